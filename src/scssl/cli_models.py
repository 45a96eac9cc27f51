"""``scssl pretrain`` and ``scssl embed``: the model steps of the CLI."""

from __future__ import annotations

from pathlib import Path

import click

from ._cli_common import (
    PATH_IN,
    _device,
    _parse_set,
    _threads,
    checkpoint_option,
    device_option,
    given,
    input_option,
    min_overlap_option,
    output_option,
    seed_option,
    set_option,
    threads_option,
)


@click.command()
@input_option("Preprocessed .h5ad.")
@output_option("Checkpoint folder to write.")
@click.option(
    "--family",
    type=click.Choice(["mae", "contrastive", "srsa_vae", "token_mae"]),
    default="mae",
    help="Model family.",
)
@set_option("Model hyperparameter of the family's Config (e.g. masker=swap); repeatable.")
@click.option(
    "--gmt",
    type=PATH_IN,
    default=None,
    help="Gene sets for mae masker=programme (GMT; TF->targets for the TF variant).",
)
@click.option(
    "--max-epochs",
    type=int,
    default=None,
    help="Epoch cap; given, the family's --min-steps no longer applies [default: the family's]",
)
@click.option(
    "--min-steps",
    type=int,
    default=None,
    help="Train at least this many optimizer steps (more epochs on small data) "
    "[default: the family's]",
)
@click.option("--batch-size", type=int, default=None, help="[default: the family's]")
@click.option("--lr", type=float, default=None, help="[default: the family's]")
@click.option("--patience", type=int, default=None, help="Early-stopping patience (epochs).")
@click.option(
    "--epochs",
    type=int,
    default=None,
    help="Stop after this many epochs now; continue later with --resume.",
)
@click.option("--resume", is_flag=True, help="Continue from <output>.partial/.")
@click.option("--batch-key", default="batch", help="obs column used as batch covariate.")
@click.option("--no-protein", is_flag=True, help="Ignore obsm['protein_clr'].")
@click.option("--resident", is_flag=True, help="Keep the HVG matrix on the device (GPU).")
@click.option(
    "--devices",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Data-parallel training (torch DDP) on N GPUs of this node (NCCL; with --device "
    "cpu, N gloo processes). Each takes --batch-size cells per step: the effective batch "
    "is batch size x N.",
)
@click.option(
    "--backed",
    is_flag=True,
    help="Out-of-core: read X and layers['counts'] from the .h5ad one row block at a time "
    "(peak memory ~ two blocks of HVG columns, whatever the file's size).",
)
@click.option(
    "--no-bf16",
    is_flag=True,
    help="Train in float32: no bf16 autocast on the GPU (nor on CPUs with native bf16).",
)
@device_option
@seed_option()
@threads_option
def pretrain(
    input_: Path,
    output: Path,
    family: str,
    sets: tuple[str, ...],
    gmt: Path | None,
    max_epochs,
    min_steps,
    batch_size,
    lr,
    patience,
    epochs,
    resume: bool,
    batch_key: str,
    no_protein: bool,
    resident: bool,
    devices: int,
    backed: bool,
    no_bf16: bool,
    device: str,
    seed: int,
    threads: int | None,
) -> None:
    """Pretrain a self-supervised model family on the HVGs; write a safetensors checkpoint."""
    from . import steps

    _threads(threads)
    model_config = _parse_set(sets, "--set")
    if gmt is not None:
        model_config["gmt"] = str(gmt)
    train = given(
        max_epochs=max_epochs, min_steps=min_steps, batch_size=batch_size, lr=lr, patience=patience
    )
    train.update(seed=seed, device=_device(device), resident=resident, bf16=not no_bf16)
    done = steps.pretrain(
        input_,
        output,
        family=family,
        model_config=model_config,
        train_overrides=train,
        batch_key=batch_key or None,
        use_protein=not no_protein,
        resume=resume,
        epochs=epochs,
        devices=devices,
        backed=backed,
    )
    if done is None:
        click.echo(f"stopped after --epochs {epochs}; continue with --resume", err=True)


@click.command()
@input_option("Preprocessed .h5ad.")
@checkpoint_option
@output_option("Output .h5ad.")
@min_overlap_option(0.5, "Refuse when fewer of the checkpoint's genes are found in the data.")
@click.option(
    "--smooth-k",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Store each cell's L2-normalised embedding averaged over its K nearest neighbours "
    "(the per-cell one goes to obsm['X_scssl_<family>_cell']): tighter types for KMeans, "
    "but Leiden then splits them; 0: the per-cell embedding only.",
)
@seed_option(0, "Seed of the approximate neighbour search (--smooth-k above 50,000 cells).")
@device_option
@threads_option
def embed(
    input_: Path,
    checkpoint: Path,
    output: Path,
    min_overlap: float,
    smooth_k: int,
    seed: int,
    device: str,
    threads: int | None,
) -> None:
    """Embed cells with a checkpoint into obsm['X_scssl_<family>']."""
    from . import steps

    _threads(threads)
    steps.embed(
        input_,
        checkpoint,
        output,
        min_overlap=min_overlap,
        device=_device(device),
        smooth_k=smooth_k,
        seed=seed,
    )
