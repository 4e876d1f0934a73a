// How an OpenAPI operation id (`tryQuery`) becomes the generated code's snake_case name (`try_query`).
// Shared by `build.rs` (which tabulates the ids) and the client builder (which accepts either form).

/// `tryQuery` → `try_query`; snake_case input is returned as it is.
pub(crate) fn snake_case(operation_id: &str) -> String {
    operation_id.chars().fold(String::new(), |mut out, c| {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
        out
    })
}
