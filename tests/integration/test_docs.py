#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Description: the documentation agrees with the code: the man page names
# every signal zerg handles and has a PLUGINS section; the "accept" default
# is the same in the schema, core/config.h, the man page and the README;
# the usage text (-h) and the man page list the same options.
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


if __name__ == "__main__":
    zg.run_tests(globals())
