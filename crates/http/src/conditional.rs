//! Conditional requests (RFC 9110 §13.2.2), evaluated on entity tags.

use crate::etag::{EntityTag, TagList};

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Go on with the request.
    Proceed,
    /// 304 Not Modified (GET or HEAD whose `If-None-Match` matched).
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates `If-Match` (strong comparison; an unparseable value fails) and `If-None-Match` (weak
/// comparison; an unparseable value is ignored) in the RFC's order.
#[must_use]
pub fn evaluate(
    safe_method: bool,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    current: &EntityTag,
) -> Precondition {
    if let Some(v) = if_match {
        if !TagList::parse(v).is_some_and(|l| l.matches(current, true)) {
            return Precondition::Failed;
        }
    }
    if let Some(list) = if_none_match.and_then(TagList::parse) {
        if list.matches(current, false) {
            return if safe_method {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    }
    Precondition::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_order() {
        let e = EntityTag::strong("v1");
        assert_eq!(evaluate(true, None, None, &e), Precondition::Proceed);
        assert_eq!(
            evaluate(true, None, Some("\"v1\""), &e),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(true, None, Some("W/\"v1\""), &e),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(true, None, Some("\"v0\""), &e),
            Precondition::Proceed
        );
        assert_eq!(
            evaluate(true, None, Some("*"), &e),
            Precondition::NotModified
        );
        assert_eq!(evaluate(false, None, Some("*"), &e), Precondition::Failed);
        assert_eq!(
            evaluate(true, Some("\"v0\""), None, &e),
            Precondition::Failed
        );
        assert_eq!(
            evaluate(true, Some("W/\"v1\""), None, &e),
            Precondition::Failed
        );
        assert_eq!(
            evaluate(true, Some("\"v1\""), Some("\"v1\""), &e),
            Precondition::NotModified
        );
        assert_eq!(
            evaluate(true, Some("bogus"), None, &e),
            Precondition::Failed
        );
        assert_eq!(
            evaluate(true, None, Some("bogus"), &e),
            Precondition::Proceed
        );
    }
}
