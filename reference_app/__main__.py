from __future__ import annotations

from reference_app.manage import main

main()
