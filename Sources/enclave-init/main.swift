// The enclave-init binary: the root command (RootCommand.swift) joins the enclave's commands
// (EnclaveInit) and the parent's (Parent); everything else lives in those modules.
EnclaveInitMain.run(arguments: Array(CommandLine.arguments.dropFirst()))
