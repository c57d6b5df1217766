//! A document's root types as JSON: what `inspect` and `dump` print.

use serde_json::{Map as JsonMap, Value, json};
use yrs::In;
use yrs::types::AsPrelim;
use yrs::types::ToJson;
use yrs::{Any, Array, Doc, GetString, Out, ReadTxn, Transact, XmlFragmentRef, XmlTextRef};

/// `{"NAME": {"type": "Y.Text", "value": ...}, ...}` for every root type of `doc`.
///
/// A document decoded from updates does not know its root types' kinds (Yjs only
/// learns them when the application asks for `getText`, `getMap`, ...), so the kind is
/// inferred from the content, as yrs does: characters make a text, keys a map,
/// elements an array, XML nodes an XML fragment.
pub(crate) fn roots(doc: &Doc) -> Value {
    let txn = doc.transact();
    let mut roots = JsonMap::new();
    let mut names: Vec<(String, Out)> = txn
        .root_refs()
        .map(|(name, out)| (name.to_owned(), out))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, out) in names {
        let (kind, value) = describe(&txn, &out);
        roots.insert(name, json!({ "type": kind, "value": value }));
    }
    Value::Object(roots)
}

fn describe<T: ReadTxn>(txn: &T, out: &Out) -> (&'static str, Value) {
    match out {
        Out::YText(text) => ("Y.Text", Value::String(text.get_string(txn))),
        Out::YMap(map) => ("Y.Map", any_json(&map.to_json(txn))),
        Out::YArray(array) => ("Y.Array", any_json(&array.to_json(txn))),
        Out::YXmlFragment(xml) => ("Y.XmlFragment", Value::String(xml.get_string(txn))),
        Out::YXmlElement(xml) => ("Y.XmlElement", Value::String(xml.get_string(txn))),
        Out::YXmlText(xml) => ("Y.XmlText", Value::String(xml.get_string(txn))),
        Out::UndefinedRef(branch) => match out.as_prelim(txn) {
            In::Text(_) => (
                "Y.Text",
                Value::String(yrs::TextRef::from(*branch).get_string(txn)),
            ),
            // yrs infers "array" for any list of items, and an XML fragment is one: a
            // list of XML elements and texts. Only an XML fragment consists of XML
            // nodes alone in practice (a Y.Array of XML nodes would render as XML).
            In::Array(_) if holds_only_xml(txn, *branch) => (
                "Y.XmlFragment",
                Value::String(XmlFragmentRef::from(*branch).get_string(txn)),
            ),
            In::Array(_) => (
                "Y.Array",
                any_json(&yrs::ArrayRef::from(*branch).to_json(txn)),
            ),
            In::XmlText(_) => (
                "Y.XmlText",
                Value::String(XmlTextRef::from(*branch).get_string(txn)),
            ),
            In::XmlElement(_) | In::XmlFragment(_) => (
                "Y.XmlFragment",
                Value::String(XmlFragmentRef::from(*branch).get_string(txn)),
            ),
            _ => ("Y.Map", any_json(&yrs::MapRef::from(*branch).to_json(txn))),
        },
        other => ("value", any_json(&other.to_json(txn))),
    }
}

/// Whether the list of `branch` holds XML elements or texts and nothing else.
fn holds_only_xml<T: ReadTxn>(txn: &T, branch: yrs::branch::BranchPtr) -> bool {
    let items = yrs::ArrayRef::from(branch);
    let mut items = items.iter(txn).peekable();
    items.peek().is_some()
        && items.all(|item| matches!(item, Out::YXmlElement(_) | Out::YXmlText(_)))
}

fn any_json(any: &Any) -> Value {
    serde_json::to_value(any).unwrap_or(Value::Null)
}

/// The client ids that wrote to `doc`, sorted.
pub(crate) fn client_ids(doc: &Doc) -> Vec<u64> {
    let mut ids: Vec<u64> = doc
        .transact()
        .state_vector()
        .iter()
        .map(|(client, _)| client.get())
        .collect();
    ids.sort_unstable();
    ids
}

/// The human-readable form of [`roots`].
pub(crate) fn roots_as_text(roots: &Value) -> String {
    let mut out = String::new();
    if let Value::Object(roots) = roots {
        if roots.is_empty() {
            out.push_str("(empty document)\n");
        }
        for (name, root) in roots {
            let kind = root["type"].as_str().unwrap_or("?");
            let value = match &root["value"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("{name} ({kind}): {value}\n"));
        }
    }
    out
}
