from gatescope.cli import main

raise SystemExit(main())
