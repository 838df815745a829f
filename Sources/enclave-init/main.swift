import Commands

// The enclave-init binary: the root command (RootCommand.swift) joins the enclave's commands
// (EnclaveInit) and the parent's (Parent); everything else lives in those modules.
CommandMain.run(Array(CommandLine.arguments.dropFirst()), root: RootCommand.group)
