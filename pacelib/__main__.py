from pacelib.cli import main

raise SystemExit(main())
