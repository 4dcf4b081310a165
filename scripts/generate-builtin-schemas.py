#!/usr/bin/env python3
"""Writes Sources/KeelsonAPIServer/Schemas/BuiltinSchemaTable.swift: the shape of every built-in type (field
names, types, required fields) of the Kubernetes version the server reports, read from the model classes of the
official Python client for that version. Only names and types are taken; no descriptions.

Run once when the reported Kubernetes version changes; the output is committed:
    scripts/generate-builtin-schemas.py            # downloads the client with pip into a temporary folder
"""
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile

CLIENT_VERSION = "32.0.1"  # the Python client released for Kubernetes 1.32
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "KeelsonAPIServer", "Schemas",
                   "BuiltinSchemaTable.swift")

# Types of apimachinery's meta/v1 package (their Python names carry only a version).
META = {"ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference", "ManagedFieldsEntry",
        "Condition", "Status", "StatusDetails", "StatusCause", "DeleteOptions", "Preconditions", "APIResource",
        "APIResourceList", "APIGroup", "APIGroupList", "APIVersions", "GroupVersionForDiscovery",
        "ServerAddressByClientCIDR", "WatchEvent"}
# Fields the Python client types as `object` that are IntOrString in the API.
INT_OR_STRING = {"port", "targetPort", "maxSurge", "maxUnavailable", "minAvailable"}
# Types served by one group's API under another's paths (subresources), named as their own group names them.
HOME_GROUP = {"V1Scale": "autoscaling", "V1Eviction": "policy"}
# Prefixes the Python client gives types whose names would collide, by group.
PREFIX_GROUP = {"Core": "", "Apiextensions": "apiextensions.k8s.io", "Apiregistration": "apiregistration.k8s.io"}
VERSIONED = re.compile(r"^([A-Za-z]*?)(V\d+(?:alpha\d+|beta\d+)?)([A-Z].*)$")


def go_package(group):
    if group == "":
        return "io.k8s.api.core"
    if group == "apiextensions.k8s.io":
        return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
    if group == "apiregistration.k8s.io":
        return "io.k8s.kube-aggregator.pkg.apis.apiregistration"
    if group == "internal.apiserver.k8s.io":
        return "io.k8s.api.apiserverinternal"
    return "io.k8s.api." + group.split(".")[0]


class Model:
    """What one generated model class declares: its fields' types and JSON names, and which are required."""

    def __init__(self, openapi_types, attribute_map, required):
        self.openapi_types, self.attribute_map, self.required = openapi_types, attribute_map, required


def read_models(folder):
    """The model classes by name, read without importing the package (which needs its dependencies)."""
    models = {}
    for name in os.listdir(folder):
        if not name.endswith(".py") or name == "__init__.py":
            continue
        source = open(os.path.join(folder, name)).read()
        for node in ast.parse(source).body:
            if not isinstance(node, ast.ClassDef):
                continue
            tables = {}
            for statement in node.body:
                if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
                    if statement.targets[0].id in ("openapi_types", "attribute_map"):
                        tables[statement.targets[0].id] = ast.literal_eval(statement.value)
            if len(tables) == 2:
                required = set(re.findall(r"client_side_validation and (\w+) is None", source))
                models[node.name] = Model(tables["openapi_types"], tables["attribute_map"], required)
    return models


def main():
    work = tempfile.mkdtemp()
    try:
        generate(work)
    finally:
        shutil.rmtree(work)


def generate(work):
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", work,
                    "kubernetes==" + CLIENT_VERSION], check=True)
    client = os.path.join(work, "kubernetes", "client")
    models = read_models(os.path.join(client, "models"))

    # Each API module's paths name its group and version; the types it answers with are that group's kinds.
    roots = []  # (python class, group, version)
    for name in sorted(os.listdir(os.path.join(client, "api"))):
        if not name.endswith("_api.py"):
            continue
        source = open(os.path.join(client, "api", name)).read()
        match = re.search(r"'/apis/([^/']+)/(v[^/']+)/", source) or re.search(r"'/api/(v1)/", source)
        if not match:
            continue
        group, version = (match.group(1), match.group(2)) if match.re.pattern.startswith("'/apis") else ("", "v1")
        for cls in sorted(set(re.findall(r"response_type='(\w+)'", source))):
            roots.append((cls, group, version))
    roots.sort(key=lambda r: (r[1] != "", r[1], r[2], r[0]))

    def py_class(name):
        return models.get(name)

    names = {}  # python class -> definition name
    order = []

    def visit(cls, group, version):
        if cls in names or py_class(cls) is None:
            return
        match = VERSIONED.match(cls)
        if not match:
            return
        prefix, own_version, short = match.group(1), match.group(2).lower(), match.group(3)
        if short in META and own_version == "v1" and not prefix:
            names[cls] = "io.k8s.apimachinery.pkg.apis.meta.v1." + short
        else:
            home = HOME_GROUP.get(cls, PREFIX_GROUP.get(prefix, prefix.lower() if prefix else group))
            names[cls] = "%s.%s.%s" % (go_package(home), own_version, short)
        order.append(cls)
        for kind in py_class(cls).openapi_types.values():
            for ref in re.findall(r"[A-Z]\w+", kind):
                visit(ref, group, version)

    for cls, group, version in roots:
        visit(cls, group, version)

    def code(kind, field):
        if kind == "str":
            return "s"
        if kind == "int":
            return "i"
        if kind == "float":
            return "n"
        if kind == "bool":
            return "b"
        if kind in ("datetime", "date"):
            return "t"
        if kind == "object":
            return "o" if field in INT_OR_STRING else "x"
        match = re.fullmatch(r"list\[(.+)\]", kind)
        if match:
            return "[" + code(match.group(1), "") + "]"
        match = re.fullmatch(r"dict\(str, (.+)\)", kind)
        if match:
            return "{" + code(match.group(1), "") + "}"
        return "@" + names[kind]

    lines = []
    for cls in sorted(order, key=lambda c: names[c]):
        model = py_class(cls)
        required = model.required
        fields = []
        for attribute, kind in sorted(model.openapi_types.items(), key=lambda item: model.attribute_map[item[0]]):
            field = model.attribute_map[attribute]
            fields.append(field + ("!" if attribute in required else "") + ":" + code(kind, field))
        lines.append(names[cls] + " " + " ".join(fields))
    with open(OUT, "w") as out:
        out.write("// Generated by scripts/generate-builtin-schemas.py from the type shapes of Kubernetes %s "
                  "(names and types only). Do not edit.\n\n" % ("1." + CLIENT_VERSION.split(".")[0]))
        out.write("extension BuiltinSchemas {\n")
        out.write("    /// `DEFINITION field:type …`; types: s string, i integer, n number, b boolean, t date-time,\n")
        out.write("    /// o int-or-string, x any value, [T] list, {T} map, @NAME another definition; `!` marks required.\n")
        out.write("    static let typeTable = \"\"\"\n")
        for line in lines:
            out.write("        " + line + "\n")
        out.write("        \"\"\"\n}\n")
    print("wrote %d definitions" % len(lines))


if __name__ == "__main__":
    main()
