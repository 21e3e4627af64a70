from blog_images_tui.cli import main

raise SystemExit(main())
