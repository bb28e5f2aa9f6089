import DuplexCLI

DuplexCommand.main()
