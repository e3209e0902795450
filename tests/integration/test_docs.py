#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the documentation agrees with the code: the man page names
# every signal zerg handles and has a PLUGINS section; the "accept" default
# is the same in the schema, core/config.h, the man page and the README;
# the usage text (-h) and the man page list the same options; zerg.json(5)
# documents every key of both schemas and of the in-tree HTTP handlers,
# with its default, range and enum values, and no key that is gone.
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zgtest as zg  # noqa: E402


def _read(*rel):
    with open(os.path.join(zg.ROOT, *rel)) as f:
        return f.read()


def _man_section(man, name):
    m = re.search(r"^\.SH %s\n(.*?)(?=^\.SH |\Z)" % re.escape(name), man, re.M | re.S)
    assert m, "zerg.8 has no .SH %s section" % name
    return m.group(1)


def test_man_page_names_every_handled_signal():
    handled = re.findall(r"sigaddset\(&mask, SIG([A-Z0-9]+)\)", _read("core", "main.c"))
    assert "QUIT" in handled and "HUP" in handled, handled
    signals = _man_section(_read("conf", "zerg.8"), "SIGNALS")
    missing = [s for s in handled if not re.search(r"\b%s\b" % s, signals)]
    assert not missing, "zerg.8 SIGNALS omits %s:\n%s" % (missing, signals)


def test_man_page_has_plugins_section():
    plugins = _man_section(_read("conf", "zerg.8"), "PLUGINS")
    for word in ("ZERG_PLUGIN_PATH", "zerg/plugin.h", "zg_plugin_entry_v1", ".so"):
        assert word in plugins, "zerg.8 PLUGINS does not mention %s" % word


def test_accept_default_agrees_everywhere():
    schema = json.loads(_read("conf", "zerg.schema.json"))
    default = schema["properties"]["accept"]["default"]
    assert default == "auto", default
    header = _read("core", "config.h")
    m = re.search(r"/\*((?:[^*]|\*(?!/))*)\*/\s*zg_accept_mode_t accept;", header)
    assert m and '"accept"' in m.group(1), "config.h has no comment on the accept field"
    assert re.search(r'default[: ]+"?%s"?' % default, m.group(0)) or \
        re.search(r'"%s" \(the default\)' % default, m.group(0)), \
        "config.h's accept comment does not say default %s: %s" % (default, m.group(0))
    assert "default acceptor" not in header, "config.h still says default acceptor"
    man = _read("conf", "zerg.8")
    assert re.search(r"accept\b.*?\(default\s+\\fB%s\\fR\)" % default, man, re.S), \
        "zerg.8 does not give accept's default %s" % default
    readme = _read("README.md")
    assert re.search(r'`"accept"`[^.]*default[^.]*`"%s"`' % default, readme) or \
        re.search(r'`"accept": "%s"`[^.]*\(the default\)' % default, readme), \
        "README does not give accept's default %s" % default


def test_usage_and_man_page_list_the_same_options():
    usage = zg.run_zerg(["-h"]).stdout
    opts = set(re.findall(r"^  (-[a-zA-Z])\b", usage, re.M))
    synopsis = _man_section(_read("conf", "zerg.8"), "SYNOPSIS")
    man_opts = set("-" + o for o in re.findall(r"\\-([a-zA-Z])\b", synopsis))
    assert opts == man_opts, "usage %s, man page %s" % (sorted(opts), sorted(man_opts))



def _plugin_names():
    return sorted(d for d in os.listdir(os.path.join(zg.ROOT, "plugins"))
                  if os.path.isdir(os.path.join(zg.ROOT, "plugins", d)))


def _schema_run():
    """zerg -S as make schema runs it: one listener per in-tree plugin,
    with plugins/NAME/config.sample.json as its config if there is one."""
    listeners = []
    for n in _plugin_names():
        lst = {"name": n, "listen": "127.0.0.1:0", "plugin": n}
        sample = os.path.join(zg.ROOT, "plugins", n, "config.sample.json")
        if os.path.exists(sample):
            with open(sample) as f:
                lst["config"] = json.load(f)
        listeners.append(lst)
    conf = zg.write_config({"listeners": listeners})
    r = zg.run_zerg(["-S", "-c", conf])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_keys_schema_is_generated_from_the_tables():
    gen = _schema_run()
    with open(os.path.join(zg.ROOT, "conf", "zerg.keys.schema.json")) as f:
        committed = json.load(f)
    assert gen == committed, ("conf/zerg.keys.schema.json is stale: run make schema")
    with open(os.path.join(zg.ROOT, "conf", "zerg.schema.json")) as f:
        main = f.read()
    json.loads(main)
    for name in gen["$defs"]:
        assert "zerg.keys.schema.json#/$defs/" + name in main, \
            "conf/zerg.schema.json does not refer to " + name
    assert "module_access" in gen["$defs"] and "plugin_http" in gen["$defs"]
    for n in _plugin_names():
        assert "plugin_" + n in gen["$defs"], "no schema for plugins/" + n
    http = gen["$defs"]["plugin_http"]["properties"]
    assert "routes" in http and http["routes"]["type"] == "array", http.keys()


def test_man_page_documents_every_proxy_key():
    props = _schema_run()["$defs"]["plugin_proxy"]["properties"]
    keys = dict(props)
    keys.update(props["upstreams"]["items"]["properties"])
    section = _man_section(_read("conf", "zerg.8"), "PROXY")
    for key, spec in keys.items():
        m = re.search(r"^\.TP\n\.B %s\n(.*?)(?=^\.TP|^\.PP|\Z)" % re.escape(key), section,
                      re.M | re.S)
        assert m, "zerg.8 PROXY has no entry for key %s" % key
        if "default" in spec:
            d = spec["default"]
            d = ("true" if d else "false") if isinstance(d, bool) else str(d)
            assert re.search(r"\(default\s+\\fB%s\\fR" % re.escape(d), m.group(1)), \
                "zerg.8 PROXY does not give %s's default %s:\n%s" % (key, d, m.group(1))


# ---- zerg.json(5): every key of the configuration -------------------------

def _man5_text(body):
    """Entry text of zerg.json.5 with the roff taken out: fonts, escapes,
    macro names; lines joined."""
    out = []
    for ln in body.splitlines():
        if ln.startswith("."):
            ln = re.sub(r"^\.[A-Za-z]+\s*", "", ln)
        out.append(ln)
    t = " ".join(out)
    t = re.sub(r"\\f[BIRP]", "", t)
    for a, b in (("\\-", "-"), ("\\(dq", '"'), ("\\(mu", "x"), ("\\e", "\\"),
                 ("\\&", "")):
        t = t.replace(a, b)
    return re.sub(r"\s+", " ", t)


def _man5_sections():
    """{title: {key: text}} of zerg.json.5: each .SS section and its .TP
    entries tagged with a bare key (.B key)."""
    man = _read("conf", "zerg.json.5")
    out = {}
    for m in re.finditer(r"^\.SS ([^\n]*)\n(.*?)(?=^\.S[SH] |\Z)", man, re.M | re.S):
        title = m.group(1).strip().strip('"')
        entries = {}
        for e in re.finditer(r"^\.TP\n\.B (\S+)\n(.*?)(?=^\.TP\n|\Z)", m.group(2),
                             re.M | re.S):
            entries[e.group(1)] = _man5_text(e.group(2))
        out[title] = entries
    return out


def _schema_resolve(spec, doc):
    """spec with a local $ref ("#/$defs/x") merged in."""
    ref = spec.get("$ref", "")
    if ref.startswith("#/$defs/"):
        merged = dict(_schema_resolve(doc["$defs"][ref[len("#/$defs/"):]], doc))
        merged.update({k: v for k, v in spec.items() if k != "$ref"})
        return merged
    return spec


def _schema_props(spec, doc):
    """(properties, required) of an object schema, through local $refs and
    allOf (not the if/then that pick a plugin's schema)."""
    spec = _schema_resolve(spec, doc)
    props, req = {}, set(spec.get("required", ()))
    for sub in spec.get("allOf", ()):
        if "if" not in sub:
            p, r = _schema_props(sub, doc)
            props.update(p)
            req |= r
    props.update(spec.get("properties", {}))
    return props, req


def _schema_walk(spec, doc, section, out):
    """Append (section, key, spec, required) for every key of the object
    spec and of the objects below it; a nested object's section is its
    path: "log", "listeners[].modules[]", "plugin http: routes[]"."""
    props, req = _schema_props(spec, doc)
    for key, sub in props.items():
        sub = _schema_resolve(sub, doc)
        out.append((section, key, sub, key in req))
        child, name = sub, key
        if "items" in sub:
            child, name = _schema_resolve(sub["items"], doc), key + "[]"
        if _schema_props(child, doc)[0]:
            if section == "top level":
                path = name
            elif ":" not in section and section.split(" ")[0] in (
                    "plugin", "module", "handler"):
                path = section + ": " + name
            else:
                path = section + "." + name
            _schema_walk(child, doc, path, out)


def _handler_keys():
    """{handler: [(key, spec)]} from the zg_key_t tables of the in-tree
    HTTP handlers (they are not in -S's output)."""
    out = {}
    hdir = os.path.join(zg.ROOT, "plugins", "http", "handlers")
    for h in sorted(os.listdir(hdir)):
        keys = out.setdefault(h, [])
        for fn in sorted(os.listdir(os.path.join(hdir, h))):
            if not fn.endswith(".c"):
                continue
            src = _read("plugins", "http", "handlers", h, fn)
            for t in re.finditer(r"zg_key_t \w+\[\] = \{(.*?)\n\};", src, re.S):
                for e in re.finditer(r'\{\.name = "(\w+)"(.*?)\}', t.group(1), re.S):
                    spec = {}
                    for field, name in (("min", "minimum"), ("max", "maximum")):
                        v = re.search(r"\.%s = ([^,\n]+)," % field, e.group(2))
                        if v and re.fullmatch(r"[0-9 <()]+", v.group(1)):
                            spec[name] = int(eval(v.group(1)))  # digits and << only
                    d = re.search(r'\.def = "((?:[^"\\]|\\.)*)"', e.group(2))
                    if d:
                        spec["default"] = d.group(1).replace('\\"', '"')
                    keys.append((e.group(1), spec))
    return out


def _config_keys():
    """[(section, key, spec, required)]: conf/zerg.schema.json, the plugins'
    and modules' conf/zerg.keys.schema.json and the handlers' tables; and
    the plugin, module and handler sections that must exist."""
    out, roots = [], []
    main = json.loads(_read("conf", "zerg.schema.json"))
    _schema_walk(main, main, "top level", out)
    keys = json.loads(_read("conf", "zerg.keys.schema.json"))
    for name, spec in keys["$defs"].items():
        kind, _, what = name.partition("_")
        roots.append(kind + " " + what)
        _schema_walk(spec, keys, kind + " " + what, out)
    for h, hkeys in _handler_keys().items():
        roots.append("handler " + h)
        out.extend(("handler " + h, k, spec, False) for k, spec in hkeys)
    return out, roots


def _json_word(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return v
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def test_config_man_page_documents_every_key():
    sections = _man5_sections()
    by_path = {}
    for title, entries in sections.items():
        for path in title.split(", "):
            by_path[path] = entries
    keys, roots = _config_keys()
    assert len(keys) > 80 and ("handler async", "max_ms") in \
        [(s, k) for s, k, _, _ in keys], "the key walk found too little"
    missing = [r for r in roots if r not in by_path]
    assert not missing, "zerg.json.5 has no section for %s" % missing
    problems = []
    for section, key, spec, required in keys:
        if section not in by_path:
            problems.append("no section %r (for key %s)" % (section, key))
            continue
        text = by_path[section].get(key)
        if text is None:
            problems.append("%s: key %s is not documented" % (section, key))
            continue
        if "default" in spec:
            d = _json_word(spec["default"])
            if not re.search(r'default\s+"?%s"?(?!\w|\.\d)' % re.escape(d), text):
                problems.append("%s: %s does not give its default %s" % (section, key, d))
        if required and "required" not in text:
            problems.append("%s: %s does not say it is required" % (section, key))
        ranges = [spec] + [s for s in spec.get("oneOf", ()) if isinstance(s, dict)]
        for r in ranges:
            if "minimum" in r and "maximum" in r:
                want = "%d..%d" % (r["minimum"], r["maximum"])
                if want not in text:
                    problems.append("%s: %s does not give its range %s" % (section, key, want))
            values = list(r.get("enum", ())) + ([r["const"]] if "const" in r else [])
            if values and all(isinstance(v, int) and not isinstance(v, bool)
                              for v in values):
                want = "%d..%d" % (min(values), max(values))
                if want not in text:
                    problems.append("%s: %s does not give its range %s" % (section, key, want))
                continue
            for v in values:
                w = '"%s"' % v if isinstance(v, str) else _json_word(v)
                if w not in text:
                    problems.append("%s: %s does not name the value %s" % (section, key, w))
    # No key the configuration does not have (a key renamed or removed).
    known = {}
    for section, key, _, _ in keys:
        known.setdefault(section, set()).add(key)
    for title, entries in sections.items():
        paths = title.split(", ")
        unknown = [p for p in paths if p not in known and p not in roots]
        if unknown:
            problems.append("section %r: no such object in the schemas" % title)
            continue
        have = set().union(*(known.get(p, set()) for p in paths))
        for key in entries:
            if key not in have:
                problems.append("%s: documents %s, which is not a key" % (title, key))
    assert not problems, "conf/zerg.json.5 is stale:\n  " + "\n  ".join(problems)


def test_config_man_page_is_referred_to():
    see_also = _man_section(_read("conf", "zerg.8"), "SEE ALSO")
    assert re.search(r"^\.BR zerg\.json \(5\)", see_also, re.M), \
        "zerg.8 SEE ALSO does not name zerg.json(5):\n" + see_also
    assert "zerg.json(5)" in _read("README.md"), "README does not name zerg.json(5)"
    assert "conf/zerg.json.5" in _read("Makefile.in"), "make install leaves zerg.json.5 out"


if __name__ == "__main__":
    zg.run_tests(globals())
