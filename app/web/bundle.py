"""The page's ES modules as one classic script, for a saved view that opens from disk.

A page opened from ``file://`` cannot import modules (each import is a fetch, and browsers refuse
module fetches from file URLs), so the saved file carries its scripts inline. This is a small,
honest bundler for the subset of ES module syntax gatescope's own scripts use, and nothing more:

    import { a, b as c } from "./x.js";       ->  const { a, b: c } = require("x.js");
    export function f() {}  (class, const, let, async function)  ->  the same without ``export``,
                                                  and a getter ``f`` on the module's exports

Each module becomes a function in a registry keyed by its path under ``static/js``; ``require``
runs a module once, on first use, and returns its exports. The exports are getters, so they read
the module's bindings as they are now (ES modules' live bindings). Anything else (``export
default``, ``export { ... }``, ``import * as``, dynamic ``import()``, bare specifiers, import
cycles) is a ValueError naming the file and line: extend the bundler before using it.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable

IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\.{1,2}/[^"]+\.js)";?\s*(?://.*)?$')
EXPORT = re.compile(r"^export\s+((?:async\s+)?function\*?|class|const|let)\s+([A-Za-z_$][\w$]*)")
UNSUPPORTED = re.compile(r"^\s*(import|export)\b|\bimport\s*\(|\bimport\.meta\b")


@dataclass(frozen=True)
class Module:
    path: str  # under static/js, e.g. "diagram/lstm.js"
    body: str  # the source with its imports and export keywords rewritten
    imports: tuple[str, ...]  # the paths it imports
    exports: tuple[str, ...]  # the names it exports


def resolve(importer: str, specifier: str) -> str:
    """``"./x.js"`` imported by ``"diagram/lstm.js"`` -> ``"diagram/x.js"``; it must stay inside."""
    path = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
    if path.startswith("../"):
        raise ValueError(f"{importer}: {specifier!r} points outside static/js")
    return path


def _bindings(names: str) -> str:
    """``"a, b as c"`` -> ``"a, b: c"`` (destructuring)."""
    parts = [part.split() for part in names.split(",") if part.strip()]
    return ", ".join(f"{p[0]}: {p[2]}" if len(p) == 3 and p[1] == "as" else p[0] for p in parts)


def parse_module(path: str, source: str) -> Module:
    """Rewrite one module's imports and exports; ValueError for syntax the bundler does not know."""
    lines, imports, exports = [], [], []
    for number, line in enumerate(source.splitlines(), 1):
        if (match := IMPORT.match(line)) is not None:
            target = resolve(path, match.group(2))
            imports.append(target)
            line = f"const {{ {_bindings(match.group(1))} }} = require({json.dumps(target)});"
        elif (match := EXPORT.match(line)) is not None:
            exports.append(match.group(2))
            line = line.removeprefix("export").lstrip()
        elif UNSUPPORTED.search(line):
            raise ValueError(f"{path}:{number}: the bundler does not handle this line: {line.strip()!r}")
        lines.append(line)
    return Module(path, "\n".join(lines), tuple(imports), tuple(exports))


def collect(root: Traversable, entry: str) -> list[Module]:
    """``entry`` and every module it imports, each after its imports (dependency order)."""
    done: dict[str, Module] = {}
    visiting: list[str] = []

    def visit(path: str) -> None:
        if path in done:
            return
        if path in visiting:
            raise ValueError(f"an import cycle: {' -> '.join([*visiting, path])}")
        visiting.append(path)
        module = parse_module(path, root.joinpath(*path.split("/")).read_text(encoding="utf-8"))
        for target in module.imports:
            visit(target)
        visiting.pop()
        done[path] = module

    visit(entry)
    return list(done.values())


PRELUDE = """\
const modules = new Map(); // path -> function (exports, require)
const loaded = new Map(); // path -> exports
function require(path) {
  if (!loaded.has(path)) {
    const exports = {};
    loaded.set(path, exports);
    modules.get(path)(exports, require);
  }
  return loaded.get(path);
}
"""


def _wrapped(module: Module) -> str:
    getters = "".join(
        f"  Object.defineProperty(exports, {json.dumps(name)}, {{ enumerable: true, get: () => {name} }});\n"
        for name in module.exports
    )
    return (
        f"// ---- {module.path} ----\n"
        f"modules.set({json.dumps(module.path)}, function (exports, require) {{\n"
        f'"use strict";\n{getters}{module.body}\n}});\n'
    )


def bundle(root: Traversable, entry: str = "main.js") -> str:
    """One script that runs ``entry`` (a path under ``root``, the static/js folder) with its imports.

    Wrap it in ``<script type="module">`` (deferred, strict, its own scope) or an IIFE."""
    modules = collect(root, entry)
    return PRELUDE + "".join(_wrapped(m) for m in modules) + f"require({json.dumps(entry)});\n"
