// The enclave-init binary: everything lives in the EnclaveInit module.
import EnclaveInit

EnclaveInitMain.run(arguments: Array(CommandLine.arguments.dropFirst()))
