"""``scssl federate``: federated pretraining, one subcommand per role.

At a site: ``genes`` (the site's HVG names, optional) and ``local-train``; at the
coordinator: ``init`` and ``aggregate``; ``run`` plays every role on one machine.
Only the site folder of ``local-train`` (weights, config, cell count, losses) leaves a site.
"""

from __future__ import annotations

from pathlib import Path

import click

from ._cli_common import (
    PATH_IN,
    _device,
    _parse_set,
    _threads,
    device_option,
    given,
    input_option,
    inputs_option,
    min_overlap_option,
    output_option,
    seed_option,
    set_option,
    stack_options,
    threads_option,
)

FAMILY = click.Choice(["mae", "contrastive", "srsa_vae", "token_mae"])

local_options = stack_options(
    click.option(
        "--local-epochs",
        type=int,
        default=4,
        help="Epochs of local training per round.",
    ),
    click.option(
        "--mu",
        type=float,
        default=0.0,
        help="FedProx proximal weight (0: plain FedAvg).",
    ),
    min_overlap_option(0.5, "Refuse a site measuring fewer of the shared genes."),
)
model_options = stack_options(
    click.option("--family", type=FAMILY, default="mae", help="Model family."),
    set_option("Model hyperparameter of the family's Config (e.g. masker=swap); repeatable."),
    click.option("--batch-size", type=int, default=None, help="[default: the family's]"),
    click.option("--lr", type=float, default=None, help="[default: the family's]"),
)


@click.group()
def federate() -> None:
    """Federated pretraining: sites train on their own cells; only weights and cell counts
    travel (docs/usage.md#federated-pretraining)."""


@federate.command()
@input_option("A site's preprocessed .h5ad.")
@output_option("Gene list to write (one HVG name per line; names only, no values).")
def genes(input_: Path, output: Path) -> None:
    """At a site: write its highly variable gene names, to agree on the shared gene list."""
    from . import steps_fed

    steps_fed.genes(input_, output)


@federate.command()
@click.option(
    "--genes",
    "gene_lists",
    required=True,
    multiple=True,
    type=PATH_IN,
    help="Shared gene list (one symbol per line); repeatable: the union, in order.",
)
@output_option("Global model folder (round 0) to write.")
@model_options
@seed_option()
def init(gene_lists: tuple[Path, ...], output: Path, family: str, sets, batch_size, lr, seed):
    """At the coordinator: the round-0 global model (seeded, untrained) on the shared genes."""
    from . import steps_fed

    steps_fed.init(
        gene_lists,
        output,
        family=family,
        model_config=_parse_set(sets, "--set"),
        train_overrides=given(batch_size=batch_size, lr=lr),
        seed=seed,
    )


@federate.command("local-train")
@input_option("The site's preprocessed .h5ad (never leaves the site).")
@click.option(
    "--global",
    "global_",
    required=True,
    type=PATH_IN,
    help="This round's global model folder (init or aggregate).",
)
@output_option("Site folder to write: the only thing that leaves the site.")
@click.option("--site", required=True, help="Site name.")
@local_options
@device_option
@seed_option(None, help="[default: the global model's] (varied per round and site)")
@threads_option
def local_train(
    input_: Path,
    global_: Path,
    output: Path,
    site: str,
    local_epochs: int,
    mu: float,
    min_overlap: float,
    device: str,
    seed: int | None,
    threads: int | None,
) -> None:
    """At a site: train the global model on the site's cells for --local-epochs epochs."""
    from . import steps_fed

    _threads(threads)
    if local_epochs < 1:
        raise click.BadParameter("must be >= 1", param_hint="--local-epochs")
    steps_fed.local_train(
        input_,
        global_,
        output,
        site=site,
        local_epochs=local_epochs,
        mu=mu,
        min_overlap=min_overlap,
        seed=seed,
        device=_device(device),
    )


@federate.command()
@inputs_option("Site folder from local-train; repeatable (one per site).")
@click.option(
    "--global",
    "global_",
    required=True,
    type=PATH_IN,
    help="The global model folder the sites started from.",
)
@output_option("Next round's global model folder to write.")
def aggregate(inputs: tuple[Path, ...], global_: Path, output: Path) -> None:
    """At the coordinator: FedAvg of the site folders, weighted by their cells."""
    from . import steps_fed

    steps_fed.aggregate(inputs, global_, output)


@federate.command("run")
@click.option(
    "--site",
    "sites",
    required=True,
    multiple=True,
    metavar="NAME=H5AD",
    help="A site and its preprocessed .h5ad; repeatable.",
)
@output_option("Folder for global/, sites/<site>/ (and genes/ without --genes).")
@click.option(
    "--genes",
    "gene_lists",
    multiple=True,
    type=PATH_IN,
    help="Shared gene list [default: the union of the sites' HVGs]; repeatable.",
)
@click.option("--rounds", type=int, default=10, help="Federated rounds.")
@local_options
@model_options
@device_option
@seed_option()
@threads_option
def run(sites, output, gene_lists, rounds, local_epochs, mu, min_overlap, **kw) -> None:
    """Every round on one machine (sites as files): init, then local-train per site and
    aggregate, --rounds times."""
    from . import steps_fed

    _threads(kw.pop("threads"))
    site_map = {}
    for item in sites:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"{item!r} is not NAME=H5AD", param_hint="--site")
        if name in site_map:
            raise click.BadParameter(f"site {name!r} given twice", param_hint="--site")
        site_map[name] = Path(path)
    out = steps_fed.run_rounds(
        site_map,
        output,
        gene_lists=gene_lists,
        rounds=rounds,
        local_epochs=local_epochs,
        mu=mu,
        min_overlap=min_overlap,
        family=kw["family"],
        model_config=_parse_set(kw["sets"], "--set"),
        train_overrides=given(batch_size=kw["batch_size"], lr=kw["lr"]),
        seed=kw["seed"],
        device=_device(kw["device"]),
    )
    click.echo(str(out))
