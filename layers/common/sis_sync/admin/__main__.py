from sis_sync.admin.cli import main

main()
