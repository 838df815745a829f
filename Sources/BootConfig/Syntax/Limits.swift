/// A path must be absolute and free of NUL bytes to be handed to the kernel.
func pathProblem(_ path: String) -> String? {
    if !path.hasPrefix("/") { return "path \"\(path)\" is not absolute" }
    if path.utf8.contains(0) { return "path contains a NUL byte" }
    return nil
}
