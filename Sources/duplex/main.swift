import DuplexCLI

await DuplexCommand.start()
