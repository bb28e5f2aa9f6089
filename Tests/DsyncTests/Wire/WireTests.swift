import Testing

/// The wire protocol's tests, grouped so that `swift test --filter Wire` runs them all
/// (test identifiers do not include the folder).
@Suite enum WireTests {}

