"""Issue 16's check: every public function, class and method of onecycle documents each of its parameters with a
docments comment (so its docs entry has a parameter table), and no parameter defaulting to `None` goes without a type.

Run alone on some modules while you work: `python tests/test_docments.py onecycle.learner onecycle.metrics`."""
import importlib, inspect, pkgutil, re, sys
from fastcore.docments import docments
import onecycle

SKIP = {'self', 'cls'}

def _params(f):
    try: sig = inspect.signature(f)
    except (TypeError, ValueError): return None, []
    return sig, [p for p in sig.parameters.values() if p.name not in SKIP
                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

def public_callables():
    "`(qualified name, module name, object)` for every public function, class and public method onecycle exports"
    seen, out = set(), []
    for m in pkgutil.walk_packages(onecycle.__path__, 'onecycle.'):
        mod = importlib.import_module(m.name)
        for n in getattr(mod, '__all__', []):
            o = getattr(mod, n, None)
            if o is None or getattr(o, '__module__', None) != mod.__name__: continue
            if inspect.isfunction(o): items = [(n, o)]
            elif inspect.isclass(o):
                items = [(n, o)] + [(f'{n}.{k}', v) for k, v in vars(o).items()
                                    if inspect.isfunction(v) and not k.startswith('_')]
            else: continue
            for qn, f in items:
                if id(f) in seen: continue
                seen.add(id(f)); out.append((qn, getattr(f, '__module__', mod.__name__), f))
    # methods that later chapters @patch onto earlier classes belong to the chapter that defines them
    return out

def _namedtuple_fields(cls) -> list:
    "The fields of a NamedTuple with no `# comment` on their line of the class body (docments cannot read them)"
    src = inspect.getsource(cls)
    return [f for f in cls._fields if not re.search(rf'^\s+{f}\s*:[^#\n]*#\s*\S', src, re.M)]

def problems(modules=None):
    "A list of `module: name: what is missing`"
    bad = []
    for qn, modname, f in public_callables():
        if modules and modname not in modules: continue
        if inspect.isclass(f) and issubclass(f, tuple) and hasattr(f, '_fields'):
            und = _namedtuple_fields(f)
            if und: bad.append(f"{modname}: {qn}: no comment for the fields {', '.join(und)}")
            continue
        sig, ps = _params(f)
        if not ps: continue
        try: d = docments(f, full=True)
        except Exception as e: bad.append(f'{modname}: {qn}: docments cannot read it ({e})'); continue
        und = [p.name for p in ps if not (d.get(p.name) or {}).get('docment')]
        if und: bad.append(f"{modname}: {qn}: no comment for {', '.join(und)}")
        untyped = [p.name for p in ps if p.default is None and p.annotation is inspect.Parameter.empty]
        if untyped: bad.append(f"{modname}: {qn}: defaults to None with no type: {', '.join(untyped)}")
    return bad

def test_every_public_parameter_is_documented():
    bad = problems()
    assert not bad, f'{len(bad)} public functions lack parameter docs:\n' + '\n'.join(bad)

if __name__ == '__main__':
    bad = problems(set(sys.argv[1:]) or None)
    print('\n'.join(bad)); print(f'{len(bad)} problems')
