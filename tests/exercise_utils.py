"""What every tests/test_exercises_NN.py asserts the same way: a solution file passes its check, a stub is [todo]."""
import contextlib
import io
import runpy
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def assert_solution_passes(name: str) -> None:
    """Run notebooks/solutions/<name>.py as `%load` would and require its check to print [ok], never [todo]."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(SOLUTIONS / f"{name}.py"), run_name="__main__")
    assert "[ok]" in out.getvalue(), out.getvalue()
    assert "[todo]" not in out.getvalue()


def _stub(*args):
    raise NotImplementedError("Exercise NN.K: your code here")


def assert_stub_is_todo(check, capsys) -> None:
    """The committed notebook's stub: the check returns False and prints [todo] instead of failing."""
    assert check(_stub) is False
    assert "[todo]" in capsys.readouterr().out
