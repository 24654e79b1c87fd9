from semscale.cli import main

raise SystemExit(main())
