/// Host names as RFC 1123 allows them: dot-separated labels of letters, digits and hyphens,
/// 1-63 characters each, not starting or ending with a hyphen, 253 characters in all.
public enum Hostname {
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isValidLabel)
    }

    public static func isValidLabel(_ label: Substring) -> Bool {
        guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
        return label.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
    }

    /// Why a name is invalid, for the error message.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > 253 { return "is longer than 253 characters" }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) where !isValidLabel(label) {
            if label.isEmpty { return "has an empty label (two dots in a row, or a leading or trailing dot)" }
            if label.utf8.count > 63 { return "has a label longer than 63 characters" }
            return "has an invalid label \"\(label)\": letters, digits and '-' only, not at either end"
        }
        return nil
    }
}
