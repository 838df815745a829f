import Addressing
import DocumentReading

/// `ingress[].tls` and its `acme`: field by field. How the ACME directory is reached is
/// ConfigValidator's (it needs the hosts and the egress policy).
extension ConfigDecoder {
    func ingressTLS(_ field: Field) -> IngressTLS? {
        guard let fields = field.object(known: ["names", "certificate", "alpn", "attestation", "certificate_file", "acme"]) else { return nil }
        let before = issues.count
        var names: [String] = []
        if let namesField = fields.required("names", hint: "the DNS names clients reach the app by, e.g. [\"app.example.com\"]"),
           let elements = namesField.array() {
            if elements.isEmpty { issues.report(namesField, "the certificate needs at least one name", hint: "e.g. [\"app.example.com\"]") }
            for element in elements {
                guard let name = element.string() else { continue }
                let bare = name.hasPrefix("*.") ? String(name.dropFirst(2)) : name
                if let problem = Hostname.problem(with: bare) {
                    issues.report(element, "name \"\(name.prefix(80))\" \(problem)", hint: "a DNS name, e.g. \"app.example.com\" (\"*.\" allowed in front)")
                } else if IPv4Address(bare) != nil {
                    issues.report(element, "name \"\(name)\" is an IP address", hint: "the certificate names DNS names; clients connect by name")
                } else if names.contains(name.lowercased()) {
                    issues.report(element, "name \"\(name)\" is listed twice")
                } else {
                    names.append(name.lowercased())
                }
            }
        }
        var source = IngressTLS.CertificateSource.selfSigned
        let certificate = fields["certificate"]?.string()
        switch certificate {
        case nil, "self-signed"?:
            if let acme = fields["acme"] {
                issues.report(acme, "\"acme\" is set but the certificate is self-signed", hint: "add \"certificate\": \"acme\", or remove \"acme\"")
            }
        case "acme"?:
            if let acmeField = fields.required("acme", hint: "where the CA is, e.g. {\"directory\": \"https://acme-v02.api.letsencrypt.org/directory\"}"),
               let acme = acme(acmeField) {
                source = .acme(acme)
                for (index, name) in names.enumerated() where name.hasPrefix("*.") {
                    issues.report(fields["names"].map { $0.path / index } ?? field.path / "names",
                                  "name \"\(name)\": a wildcard needs the DNS-01 challenge, which enclave-init does not answer",
                                  hint: "list each name, or use \"certificate\": \"self-signed\"")
                }
            }
        case let other?:
            issues.report(fields["certificate"]!, "certificate \"\(other.prefix(40))\" is not a source enclave-init knows",
                          hint: "\"self-signed\" (the default) or \"acme\"")
        }
        var alpn: [String] = []
        if let alpnField = fields["alpn"], let elements = alpnField.array() {
            for element in elements {
                guard let name = element.nonEmptyString() else { continue }
                if IngressTLS.reservedProtocols.contains(name) {
                    issues.report(element, "\"\(name)\" is enclave-init's own protocol on this ingress", hint: "list only what the app speaks, e.g. \"h2\", \"http/1.1\"")
                } else if name.utf8.count > 255 || !name.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) {
                    issues.report(element, "ALPN protocol \"\(name.prefix(40))\" is not 1-255 printable ASCII characters", hint: "e.g. \"h2\", \"http/1.1\"")
                } else if alpn.contains(name) {
                    issues.report(element, "ALPN protocol \"\(name)\" is listed twice")
                } else {
                    alpn.append(name)
                }
            }
        }
        let attestation = fields["attestation"].map { $0.bool() } ?? true
        var certificateFile: String?
        if let fileField = fields["certificate_file"], let path = fileField.nonEmptyString() {
            if let problem = pathProblem(path) {
                issues.report(fileField, problem, hint: "where the app reads the certificate chain, e.g. \"/run/tls/cert.pem\"")
            } else {
                certificateFile = path
            }
        }
        guard issues.count == before else { return nil }
        var tls = IngressTLS(names: names)
        tls.certificate = source
        tls.alpn = alpn
        tls.attestation = attestation ?? true
        tls.certificateFile = certificateFile
        return tls
    }

    private func acme(_ field: Field) -> ACMESettings? {
        guard let fields = field.object(known: ["directory", "contact", "ca_file", "until_issued", "challenge"]) else { return nil }
        let before = issues.count
        var directory: URLParts?
        if let directoryField = fields.required("directory", hint: "the CA's directory URL, e.g. \"https://acme-v02.api.letsencrypt.org/directory\""),
           let text = directoryField.nonEmptyString() {
            directory = URLParts.https(text)
            if directory == nil {
                issues.report(directoryField, "directory \"\(text.prefix(80))\" is not an https URL",
                              hint: "the CA's directory URL, e.g. \"https://acme-v02.api.letsencrypt.org/directory\"")
            }
        }
        var contact: [String] = []
        if let contactField = fields["contact"], let elements = contactField.array() {
            for element in elements {
                guard let text = element.nonEmptyString() else { continue }
                if text.hasPrefix("mailto:"), text.dropFirst(7).contains("@"), !text.contains(where: { $0 == " " || $0 == "," }) {
                    contact.append(text)
                } else {
                    issues.report(element, "contact \"\(text.prefix(60))\" is not a mailto: URL", hint: "e.g. \"mailto:ops@example.com\"")
                }
            }
        }
        var caFile: String?
        if let caField = fields["ca_file"], let path = caField.nonEmptyString() {
            if let problem = pathProblem(path) { issues.report(caField, problem, hint: "the CA bundle the directory's certificate chains to") } else { caFile = path }
        }
        var untilIssued: ACMESettings.UntilIssued?
        if let untilField = fields["until_issued"], let text = untilField.string() {
            untilIssued = ACMESettings.UntilIssued(rawValue: text)
            if untilIssued == nil {
                issues.report(untilField, "until_issued \"\(text.prefix(40))\" is not a choice",
                              hint: "\"self-signed\" (serve one until the CA's arrives; the default) or \"refuse\"")
            }
        }
        if let challengeField = fields["challenge"], let text = challengeField.string(), text != "tls-alpn-01" {
            let why = text == "http-01" ? "enclave-init answers the TLS-ALPN-01 challenge on this ingress itself; HTTP-01 is not supported"
                                        : "challenge \"\(text.prefix(40))\" is not one enclave-init answers"
            issues.report(challengeField, why, hint: "\"tls-alpn-01\" (the CA connects to the names on port 443: make host_port 443)")
        }
        guard issues.count == before, let directory else { return nil }
        var settings = ACMESettings(directory: directory)
        settings.contact = contact
        if let caFile { settings.caFile = caFile }
        if let untilIssued { settings.untilIssued = untilIssued }
        return settings
    }
}
