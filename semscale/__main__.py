from semscale.store import runqueue

runqueue.yield_cpu()  # before the imports below, which are already work

from semscale.app.cli import main  # noqa: E402

raise SystemExit(main())
