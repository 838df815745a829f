import Addressing
import DocumentReading
import ExtrasBase64

/// `kms` and `secrets[]`: field by field, as the rest of the decoder. Checks across sections
/// (secrets without kms, names used twice, how KMS is reached) are ConfigValidator's.
extension ConfigDecoder {
    func kms(_ field: Field) -> KMSSettings? {
        guard let fields = field.object(known: ["region", "endpoint", "credentials", "ca_file", "proxy", "wait_seconds"]) else { return nil }
        let before = issues.count
        var region: String?
        if let regionField = fields.required("region", hint: "the key's region, e.g. \"us-east-1\""), let text = regionField.nonEmptyString() {
            if Self.isRegionName(text) {
                region = text
            } else if let zoneRegion = Self.regionOfZone(text) {
                issues.report(regionField, "region \"\(text)\" is an availability zone, not a region",
                              hint: "write its region: \"\(zoneRegion)\"")
            } else {
                issues.report(regionField, "region \"\(text.prefix(60))\" is not a region name",
                              hint: "lower-case words and a number, joined by dashes, e.g. \"us-east-1\"")
            }
        }
        let endpoint = fields["endpoint"].flatMap(endpointHostPort)
        var credentialsPort: UInt32?
        if let credentials = fields.required("credentials", hint: "the parent half serves the role's credentials, e.g. {\"vsock_port\": 8010}"),
           let credentialFields = credentials.object(known: ["vsock_port"]) {
            credentialsPort = credentialFields.required("vsock_port", hint: "the parent half serves credentials on this vsock port, e.g. 8010")?.vsockPort()
        }
        var caFile: String?
        if let path = fields["ca_file"], let text = path.nonEmptyString() {
            if let problem = pathProblem(text) { issues.report(path, problem, hint: "the image's CA bundle, e.g. \(KMSSettings.defaultCAFile)") } else { caFile = text }
        }
        var proxyPort: UInt16?
        if let proxy = fields["proxy"], let proxyFields = proxy.object(known: ["port"]) {
            proxyPort = proxyFields.required("port", hint: "the SDK endpoint listens on 127.0.0.1:port, e.g. 9999")?.port()
        }
        let wait = fields["wait_seconds"]?.integer(KMSSettings.waitRange, noun: "wait_seconds")
        guard issues.count == before, let region, let credentialsPort else { return nil }
        var settings = KMSSettings(region: region, endpoint: endpoint, credentialsVsockPort: credentialsPort)
        if let wait { settings.waitSeconds = Int(wait) }
        if let caFile { settings.caFile = caFile }
        settings.proxyPort = proxyPort
        return settings
    }

    func secret(_ field: Field) -> Secret? {
        let known = ["env", "file", "mode", "ciphertext", "ciphertext_file", "key_id", "encryption_context", "required"]
        guard let fields = field.object(known: known) else { return nil }
        let before = issues.count

        var destination: Secret.Destination?
        switch (fields["env"], fields["file"]) {
        case (nil, nil):
            issues.report(field.path / "env", at: field.node.location, "a secret needs a destination: \"env\" or \"file\"",
                          hint: "add \"env\": \"DB_PASSWORD\" or \"file\": \"/run/secrets/name\"")
        case (_?, _?):
            issues.report(field.path / "file", at: fields["file"]?.node.location, "a secret goes to \"env\" or to \"file\", not both",
                          hint: "make two entries with the same ciphertext for two destinations")
        case (let env?, nil):
            if let name = env.nonEmptyString() {
                if Self.isVariableName(name) {
                    destination = .env(name)
                } else {
                    issues.report(env, "\"\(name.prefix(60))\" is not an environment variable name",
                                  hint: "letters, digits and underscores, not starting with a digit, e.g. \"DB_PASSWORD\"")
                }
            }
            if let mode = fields["mode"] {
                issues.report(mode, "mode applies to a \"file\" secret, not to an environment variable", hint: "remove \"mode\"")
            }
        case (nil, let file?):
            var mode = Secret.defaultFileMode
            if let modeField = fields["mode"], let text = modeField.string() {
                if let parsed = Self.fileMode(text), parsed & 0o400 == 0 {
                    issues.report(modeField, "mode \"\(text)\" lets not even the file's owner read it: the app could not read its secret",
                                  hint: "use \"0400\" (the app's user reads it) or \"0440\" (its group too)")
                } else if let parsed = Self.fileMode(text) {
                    mode = parsed
                } else {
                    issues.report(modeField, "mode \"\(text.prefix(20))\" is not an octal file mode",
                                  hint: "write it as a string of octal digits up to 0777, e.g. \"0400\"")
                }
            }
            if let path = file.nonEmptyString() {
                if let problem = Self.secretPathProblem(path) {
                    issues.report(file, problem, hint: "write it under a tmpfs such as /run, e.g. \"/run/secrets/tls.key\"")
                } else {
                    destination = .file(path: path, mode: mode)
                }
            }
        }

        var source: Secret.Source?
        switch (fields["ciphertext"], fields["ciphertext_file"]) {
        case (nil, nil):
            issues.report(field.path / "ciphertext", at: field.node.location, "a secret needs its ciphertext: \"ciphertext\" or \"ciphertext_file\"",
                          hint: "the CiphertextBlob `aws kms encrypt` prints (base64), or a file in the image that holds it")
        case (_?, _?):
            issues.report(field.path / "ciphertext_file", at: fields["ciphertext_file"]?.node.location,
                          "give \"ciphertext\" or \"ciphertext_file\", not both", hint: "remove one of them")
        case (let inline?, nil):
            if let text = inline.nonEmptyString() {
                let compact = String(text.unicodeScalars.filter { $0 != "\n" && $0 != "\r" && $0 != " " }.map(Character.init))
                if (try? Base64.decode(string: compact))?.isEmpty == false {
                    source = .inline(base64: compact)
                } else {
                    issues.report(inline, "ciphertext is not base64", hint: "paste the CiphertextBlob that `aws kms encrypt --output text` prints")
                }
            }
        case (nil, let file?):
            if let path = file.nonEmptyString() {
                if let problem = pathProblem(path) { issues.report(file, problem) } else { source = .file(path) }
            }
        }

        var keyID: String?
        if let key = fields["key_id"], let text = key.nonEmptyString() { keyID = text }
        var context: [String: String] = [:]
        if let contextField = fields["encryption_context"], let members = contextField.members() {
            for (key, value) in members {
                if let text = value.string() { context[key] = text }
            }
        }
        let required = fields["required"]?.bool()
        guard issues.count == before, let destination, let source else { return nil }
        var secret = Secret(destination: destination, source: source)
        secret.keyID = keyID
        secret.encryptionContext = context
        if let required { secret.required = required }
        return secret
    }

    /// host:port, with the port optional (443).
    private func endpointHostPort(_ field: Field) -> HostPort? {
        guard let text = field.string() else { return nil }
        if let hostPort = URLSpelling.hostPort(of: text) {
            issues.report(field, "endpoint \"\(text)\" is a URL; write the host and port KMS answers on",
                          hint: "write \"endpoint\": \"\(hostPort)\"")
            return nil
        }
        switch HostPort.parse(text, defaultPort: 443) {
        case .success(let value): return value
        case .failure:
            issues.report(field, "endpoint \"\(text.prefix(60))\" is not host[:port]",
                          hint: "write it like \"kms.us-east-1.amazonaws.com:443\" (the name TLS verifies)")
            return nil
        }
    }

    /// AWS's region names: lower-case words and a final number, joined by dashes ("us-east-1",
    /// "us-gov-west-1", "ap-southeast-4"). An availability zone ("us-east-1a") is not one.
    static func isRegionName(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count <= 40, parts.count >= 3, let number = parts.last, !number.isEmpty,
              number.allSatisfy({ ("0"..."9").contains($0) }) else { return false }
        return parts.dropLast().allSatisfy { word in !word.isEmpty && word.allSatisfy { ("a"..."z").contains($0) } }
    }

    /// "us-east-1a" -> "us-east-1": an availability zone's region, when `text` is one.
    static func regionOfZone(_ text: String) -> String? {
        guard let last = text.last, ("a"..."z").contains(last) else { return nil }
        let region = String(text.dropLast())
        return isRegionName(region) ? region : nil
    }

    static func isVariableName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// "0400", "400" or "0o400" style octal, at most 0777 (no set-id or sticky bits on a secret).
    static func fileMode(_ text: String) -> UInt32? {
        var digits = Substring(text)
        if digits.hasPrefix("0o") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 4, digits.allSatisfy({ ("0"..."7").contains($0) }),
              let mode = UInt32(digits, radix: 8), mode <= 0o777 else { return nil }
        return mode
    }

    static func secretPathProblem(_ path: String) -> String? {
        if let problem = pathProblem(path) { return problem }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        if components.contains("..") || components.contains(".") { return "path \"\(path)\" has . or .. in it" }
        if path.hasSuffix("/") { return "path \"\(path)\" names a directory, not a file" }
        return nil
    }
}
