"""Static checks of the Nextflow pipeline, run where no Nextflow runtime exists.

Every check returns a list of problems (strings naming the file and what is wrong); an empty
list means the check passed. ``check_all(root)`` runs them all on a pipeline folder, so the
tests can also run them on a deliberately broken copy.

Checked: every .nf and .config file parses (reftrace); includes resolve to files that define
the included names; every module has a label defined in conf/base.config, a stub and a
versions topic emission; each module's script is one ``scssl <command>`` whose options exist
in the click CLI and which passes every required option; every ``--option`` in
conf/modules.config exists for that process's command and pairs with the param of the same
name; every ``params.x`` used anywhere is defined in nextflow.config and nextflow_schema.json
with the same default, which also equals the CLI option's default.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")
# a "--opt ${params.x}" value pair, and a "params.x ? '--flag'" switch
PAIR = re.compile(r"--([a-z][a-z0-9-]*)[ =]\$\{params\.(\w+)\}")
SWITCH = re.compile(r"params\.(\w+)\s*\?\s*['\"]--([a-z][a-z0-9-]*)['\"]")
PARAM_USE = re.compile(r"params\.(\w+)")
# processes downstream of the collected versions topic: emitting into it too would be a cycle
# (the topic closes when its producers finish), so they emit their versions as plain outputs
TOPIC_CONSUMERS = frozenset({"SCSSL_SUMMARY", "SCSSL_MULTIQC"})
# options whose param has another name: (command, option) -> param
ALIASES = {
    ("pretrain", "set"): "model",
    ("pretrain", "devices"): "pretrain_devices",
    ("cluster", "no-umap"): "skip_umap",
    ("finetune", "mode"): "finetune_mode",
    ("evaluate", "label-key"): "truth_key",
    ("multiqc", "title"): "multiqc_title",
    ("multiqc", "config"): "multiqc_config",
    ("federate init", "set"): "model",
    ("federate local-train", "local-epochs"): "fed_local_epochs",
    ("federate local-train", "mu"): "fed_mu",
}
# an ``scssl <command>`` or ``scssl <group> <command>`` call in a module script
SCSSL_CALL = re.compile(r"(?<![\w/-])scssl\s+([a-z][a-z_-]*)(?:[ \t]+([a-z][a-z_-]*))?")


@dataclass(frozen=True)
class Command:
    """The options of one ``scssl`` subcommand."""

    name: str
    options: dict[str, click.Option]

    @property
    def required(self) -> set[str]:
        return {n for n, o in self.options.items() if o.required}


def cli_commands() -> dict[str, Command]:
    """``scssl`` subcommands and their long options (without the leading dashes); the
    commands of a group (``scssl federate local-train``) as ``'federate local-train'``."""
    from scssl.cli import cli as main

    flat = {}
    for name, cmd in main.commands.items():
        if isinstance(cmd, click.Group):
            flat.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            flat[name] = cmd
    out = {}
    for name, cmd in flat.items():
        opts = {}
        for p in cmd.params:
            if isinstance(p, click.Option):
                for o in (*p.opts, *p.secondary_opts):
                    if o.startswith("--"):
                        opts[o[2:]] = p
        out[name] = Command(name, opts)
    return out


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def nf_files(root: Path) -> list[Path]:
    skip = {".nf-test", "work", ".nextflow", "results", ".venv", "node_modules"}
    return sorted(p for p in root.rglob("*.nf") if not skip & set(p.relative_to(root).parts))


def config_files(root: Path) -> list[Path]:
    return [root / "nextflow.config", *sorted((root / "conf").rglob("*.config"))]


# --- parsing ---------------------------------------------------------------------------
_MODULES: dict[str, Any] = {}


def parse(path: Path) -> Any:
    """reftrace's parse of one .nf file (a Module, or a ParseError), cached by its text."""
    import reftrace

    key = path.read_text()
    if key not in _MODULES:
        _MODULES[key] = reftrace.Module.from_file(str(path))
    return _MODULES[key]


def parse_problems(root: Path) -> list[str]:
    """Syntax errors in .nf and .config files."""
    import reftrace

    problems = []
    for nf in nf_files(root):
        mod = parse(nf)
        if not hasattr(mod, "processes"):
            problems.append(f"{_rel(nf, root)}: does not parse: {getattr(mod, 'error', mod)}")
    for p in config_files(root):
        if not p.is_file():
            problems.append(f"{_rel(p, root)}: missing")
            continue
        res = reftrace.ConfigFile.from_file(str(p))
        if res.error:
            problems.append(f"{_rel(p, root)}: does not parse: {res.error}")
    return problems


def _defined_names(path: Path) -> set[str]:
    mod = parse(path)
    if not hasattr(mod, "processes"):
        return set()
    names = {p.name for p in mod.processes} | {w.name for w in mod.workflows}
    return names | set(re.findall(r"^\s*def\s+(\w+)\s*\(", path.read_text(), re.M))


def include_problems(root: Path) -> list[str]:
    """Every ``include { X } from './path'`` names a file that defines X."""
    problems = []
    for nf in nf_files(root):
        mod = parse(nf)
        if not hasattr(mod, "includes"):
            continue  # a parse error, reported by parse_problems
        for inc in mod.includes:
            src = inc.from_module
            if src.startswith("plugin/"):
                continue
            base = (nf.parent / src).resolve()
            target = next(
                (c for c in (base.with_suffix(".nf"), base / "main.nf") if c.is_file()), None
            )
            where = f"{_rel(nf, root)} line {inc.line}"
            if target is None:
                problems.append(f"{where}: include from '{src}': no such file")
                continue
            defined = _defined_names(target)
            for item in inc.items:
                if item.name not in defined:
                    problems.append(f"{where}: '{item.name}' is not defined in {src}")
    return problems


# --- modules ---------------------------------------------------------------------------
def _block(text: str, start: str, ends: tuple[str, ...]) -> str:
    """The text after the ``start:`` section label up to the first of ``ends``."""
    m = re.search(rf"^\s*{start}:\s*$", text, re.M)
    if not m:
        return ""
    rest = text[m.end() :]
    cut = [m2.start() for e in ends if (m2 := re.search(rf"^\s*{e}:\s*$", rest, re.M))]
    return rest[: min(cut)] if cut else rest


def base_labels(root: Path) -> set[str]:
    text = (root / "conf/base.config").read_text()
    return set(re.findall(r"withLabel\s*:\s*['\"]?(\w+)", text))


def script_commands(script: str) -> list[str]:
    """The ``scssl`` commands a script runs (``'federate local-train'`` for a group's)."""
    groups = {n.split()[0] for n in cli_commands() if " " in n}
    return [f"{a} {b}" if a in groups and b else a for a, b in SCSSL_CALL.findall(script)]


def module_commands(root: Path) -> dict[str, str]:
    """Process name -> ``scssl`` subcommand of its script, for every local module."""
    out = {}
    for nf in sorted((root / "modules/local").rglob("main.nf")):
        text = nf.read_text()
        proc = re.search(r"^process\s+(\w+)", text, re.M)
        cmd = script_commands(_block(text, "script", ("stub",)))
        if proc and cmd:
            out[proc.group(1)] = cmd[0]
    return out


def module_problems(root: Path, cli: dict[str, Command]) -> list[str]:
    problems = []
    labels = base_labels(root)
    for nf in sorted((root / "modules/local").rglob("main.nf")):
        where = _rel(nf, root)
        text = nf.read_text()
        mod = parse(nf)
        if not hasattr(mod, "processes"):
            continue
        if len(mod.processes) != 1:
            problems.append(f"{where}: must define exactly one process")
            continue
        proc = mod.processes[0]
        names = [lab.value for lab in proc.labels]
        if not names:
            problems.append(f"{where}: process {proc.name} has no resource label")
        problems += [
            f"{where}: label '{n}' is not defined in conf/base.config"
            for n in names
            if n not in labels
        ]
        meta = nf.parent / "meta.yml"
        if not meta.is_file():
            problems.append(f"{where}: no meta.yml beside it")
        else:
            import yaml

            if (yaml.safe_load(meta.read_text()) or {}).get("name") != proc.name.lower():
                problems.append(f"{_rel(meta, root)}: name is not '{proc.name.lower()}'")
        on_topic = re.search(r"topic:\s*versions", text)
        if proc.name in TOPIC_CONSUMERS:
            if on_topic or not re.search(r"emit:\s*versions_\w+", text):
                problems.append(f"{where}: must emit versions_* outputs, not on the topic")
        elif not on_topic:
            problems.append(f"{where}: no output on the 'versions' topic")
        if not re.search(r"^\s*stub:\s*$", text, re.M):
            problems.append(f"{where}: no stub: block")
        script = _without_comments(_block(text, "script", ("stub",)))
        if "task.ext.args" not in script:
            problems.append(f"{where}: script does not pass task.ext.args")
        cmds = script_commands(script)
        if not cmds:
            continue  # a third-party tool (e.g. MultiQC)
        if len(cmds) > 1:
            problems.append(f"{where}: script runs {len(cmds)} scssl commands; one per module")
        cmd = cli.get(cmds[0])
        if cmd is None:
            problems.append(f"{where}: 'scssl {cmds[0]}' is not a command of the scssl CLI")
            continue
        used = set(OPTION.findall(script))
        problems += [
            f"{where}: 'scssl {cmd.name} --{o}' is not an option of the CLI"
            for o in sorted(used - set(cmd.options))
        ]
        problems += [
            f"{where}: required option 'scssl {cmd.name} --{o}' is not passed"
            for o in sorted(cmd.required - used)
            if not any(o2 in used for o2 in _aliases_of(cmd, o))
        ]
    return problems


def _aliases_of(cmd: Command, opt: str) -> set[str]:
    target = cmd.options[opt]
    return {n for n, o in cmd.options.items() if o is target}


# --- params ----------------------------------------------------------------------------
def _literal(src: str) -> Any:
    src = src.split("//")[0].strip() if not src.strip().startswith(("'", '"')) else src.strip()
    if src == "null":
        return None
    if src in ("true", "false"):
        return src == "true"
    if re.fullmatch(r"-?\d+", src):
        return int(src)
    if re.fullmatch(r"-?\d+\.\d*([eE]-?\d+)?|-?\d+[eE]-?\d+", src):
        return float(src)
    m = re.fullmatch(r"'([^']*)'|\"([^\"$]*)\"", src)
    if m:
        return m.group(1) if m.group(1) is not None else m.group(2)
    return ...  # an expression: no literal default to compare


def config_params(root: Path) -> dict[str, Any]:
    """The ``params { }`` block of nextflow.config: name -> literal default (... if computed)."""
    text = (root / "nextflow.config").read_text()
    m = re.search(r"^params\s*\{(.*?)^\}", text, re.M | re.S)
    if not m:
        return {}
    out = {}
    for line in m.group(1).splitlines():
        a = re.match(r"\s*(\w+)\s*=\s*(.+?)\s*$", line)
        if a:
            out[a.group(1)] = _literal(a.group(2))
    return out


def schema_params(root: Path) -> dict[str, dict]:
    schema = json.loads((root / "nextflow_schema.json").read_text())
    props = dict(schema.get("properties", {}))
    for group in schema.get("$defs", {}).values():
        props.update(group.get("properties", {}))
    return props


def _without_comments(text: str) -> str:
    """Groovy text with comments blanked out (line numbers kept)."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"(^|\s)//.*$", r"\1", text, flags=re.M)


def used_params(root: Path) -> dict[str, list[str]]:
    """Every ``params.x`` used in .nf and .config files -> where."""
    out: dict[str, list[str]] = {}
    for p in [*nf_files(root), *config_files(root)]:
        if not p.is_file():
            continue
        for i, line in enumerate(_without_comments(p.read_text()).splitlines(), 1):
            for name in PARAM_USE.findall(line):
                out.setdefault(name, []).append(f"{_rel(p, root)} line {i}")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (a in (None, False) and b in (None, False))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < 1e-12
    return a == b


def param_problems(root: Path, cli: dict[str, Command]) -> list[str]:
    problems = []
    conf = config_params(root)
    schema = schema_params(root)
    for name in sorted(set(conf) - set(schema)):
        problems.append(f"nextflow_schema.json: param '{name}' of nextflow.config is missing")
    for name in sorted(set(schema) - set(conf)):
        problems.append(f"nextflow.config: param '{name}' of nextflow_schema.json is missing")
    for name, where in sorted(used_params(root).items()):
        if name not in conf:
            problems.append(f"{where[0]}: params.{name} is not defined in nextflow.config")
    for name in sorted(set(conf) & set(schema)):
        c, s = conf[name], schema[name].get("default")
        if c is ... or (c is None and s is None):
            continue
        if not _same(c, s):
            problems.append(
                f"param '{name}': default {c!r} in nextflow.config, {s!r} in nextflow_schema.json"
            )
        if not schema[name].get("description"):
            problems.append(f"nextflow_schema.json: param '{name}' has no description")
    problems += _ext_args_problems(root, cli, conf)
    return problems


def _cli_default(opt: click.Option) -> Any:
    """The option's default; None when it has none (click may use a sentinel object)."""
    if opt.is_flag:
        return opt.default is True
    d = opt.default
    return d if isinstance(d, (str, int, float, bool, type(None))) else None


def _withname_blocks(text: str) -> list[tuple[str, str]]:
    marks = list(re.finditer(r"withName\s*:\s*['\"]([\w:]+)['\"]", text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return [(m.group(1), text[m.end() : e]) for m, e in zip(marks, ends, strict=True)]


def _ext_args_problems(root: Path, cli: dict[str, Command], conf: dict[str, Any]) -> list[str]:
    problems = []
    path = root / "conf/modules.config"
    procs = module_commands(root)
    for proc, block in _withname_blocks(path.read_text()):
        where = f"conf/modules.config withName '{proc}'"
        if proc not in procs:
            if proc.startswith("SCSSL_"):
                problems.append(f"{where}: no module runs this process")
            continue
        cmd = cli.get(procs[proc])
        if cmd is None:
            continue  # reported by module_problems
        m = re.search(r"ext\.args\s*=\s*\{(.*?)\n\s*\}\s*\n", block, re.S)
        args = m.group(1) if m else ""
        for opt in sorted(set(OPTION.findall(args)) - set(cmd.options)):
            problems.append(f"{where}: 'scssl {cmd.name} --{opt}' is not an option of the CLI")
        pairs = [(o, p) for o, p in PAIR.findall(args)] + [(o, p) for p, o in SWITCH.findall(args)]
        for opt, param in pairs:
            if opt not in cmd.options:
                continue
            expected = ALIASES.get((cmd.name, opt), opt.replace("-", "_"))
            if param != expected:
                problems.append(
                    f"{where}: --{opt} takes params.{param}; the param must be named '{expected}'"
                )
            if param in conf and conf[param] is not ...:
                cli_default = _cli_default(cmd.options[opt])
                if (
                    cli_default is not None
                    and conf[param] is not None
                    and not _same(conf[param], cli_default)
                ):
                    problems.append(
                        f"param '{param}': default {conf[param]!r} in nextflow.config, "
                        f"{cli_default!r} for 'scssl {cmd.name} --{opt}'"
                    )
    return problems


# --- published layout --------------------------------------------------------------------
OUTDIR = r'"\$\{params\.outdir\}/([\w/.${}-]+)"'
# path: { params.federated ? "<outdir>/sites/${meta.site}/x" : "<outdir>/x" }
FED_PATH = re.compile(rf"path:\s*\{{\s*params\.federated\s*\?\s*{OUTDIR}\s*:\s*{OUTDIR}\s*\}}")


def publish_dirs(root: Path, *, federated: bool = False) -> dict[str, str]:
    """Process name -> its publishDir folder under outdir, from conf/modules.config (as
    published with ``--federated`` when ``federated``)."""
    text = (root / "conf/modules.config").read_text()
    out = {}
    for proc, block in _withname_blocks(text):
        fed = FED_PATH.search(block)
        m = re.search(rf"path:\s*\{{\s*{OUTDIR}\s*\}}", block)
        if fed:
            out[proc] = fed.group(1) if federated else fed.group(2)
        elif m:
            out[proc] = m.group(1)
    return out


def _braces(pattern: str) -> list[str]:
    """Expand one level of ``{a,b}`` alternatives (Nextflow output globs)."""
    m = re.search(r"\{([^}]*)\}", pattern)
    if not m:
        return [pattern]
    return [pattern[: m.start()] + alt + pattern[m.end() :] for alt in m.group(1).split(",")]


# processes that run only with --federated, and only without it
FEDERATED_ONLY = ("SCSSL_FED_",)
NOT_FEDERATED = frozenset({"SCSSL_PRETRAIN", "SCSSL_SUMMARY"})


def published_files(
    root: Path, values: dict[str, str], *, federated: bool = False
) -> dict[str, list[str]]:
    """Process name -> the non-optional output paths it publishes (relative to outdir; globs
    allowed), with ``${name}`` placeholders replaced from ``values`` (e.g. prefix, family);
    ``federated``: the processes and folders of a ``--federated`` run."""
    dirs = publish_dirs(root, federated=federated)
    out: dict[str, list[str]] = {}
    for nf in sorted((root / "modules/local").rglob("main.nf")):
        text = nf.read_text()
        proc = re.search(r"^process\s+(\w+)", text, re.M)
        if not proc or proc.group(1) not in dirs:
            continue
        name = proc.group(1)
        if name in NOT_FEDERATED if federated else name.startswith(FEDERATED_ONLY):
            continue
        folder = re.sub(r"\$\{([\w.]+)\}", lambda v: values.get(v.group(1), "*"), dirs[name])
        section = _block(text, "output", ("when", "script"))
        files = []
        for line in section.splitlines():
            m = re.search(r'path\(\s*"([^"]+)"', line)
            if not m or "optional: true" in line:
                continue  # optional outputs need not exist
            pat = re.sub(r"\$\{([\w.]+)\}", lambda v: values.get(v.group(1), "*"), m.group(1))
            files += [f"{folder}/{p}" for p in _braces(pat)]
        out[proc.group(1)] = files
    return out


def check_all(root: str | Path) -> list[str]:
    """Every problem found in the pipeline at ``root``."""
    root = Path(root).resolve()
    cli = cli_commands()
    return (
        parse_problems(root)
        + include_problems(root)
        + module_problems(root, cli)
        + param_problems(root, cli)
    )


if __name__ == "__main__":
    import sys

    found = check_all(sys.argv[1] if len(sys.argv) > 1 else ".")
    print("\n".join(found) or "pipeline checks: no problems")
    sys.exit(1 if found else 0)
