//! Pure: the usual LexisNexis answer judged as it is read, its products written into the line's JSON (redacted, escaped as the line escapes) in the same pass, without a `Value`; any other answer is left to the `Value` path.
//!
//! Reading an InstantVerify answer into a `Value`, walking that to redact
//! it, then writing the logged products back out was about half of a
//! mirrored request's pure work (`benches/counted.sh`). Here one serde_json
//! pass reads the fields judged and writes each product as it goes by.
//! It takes only the answers whose result it can give exactly as the
//! `Value` path gives it: no key twice in a product or among the fields
//! judged, no key that redaction would change, no date-of-birth piece
//! (`Year`, `Month`, `Day`) when the applicant's date is known, no status
//! `error`, items that are objects, a PhoneFinder product logged without
//! `ParameterDetails`, and nothing identity-idp's proofer raises on. For
//! any other answer it gives `None`, and `resolution::judge` reads that
//! answer the `Value` way, which decides it: the two cannot differ in what
//! they write (a test compares them over generated answers).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{Judged, attribute_for, base_error, can_pass, object, reason_code};
use crate::lenient::{Key, Skip, from_body};
use crate::line_text::write_json_string;
use crate::redact::{REDACTED, Redactor};
use crate::verdict::{ErrorValue, Errors};

/// Judges a 2xx answer's body, and writes the products it logs: `None`
/// when the answer is not one this reader takes (see the module).
pub(super) fn judge(body: &[u8], redactor: &Redactor) -> Option<(Judged, Errors)> {
    let capacity = body.len() + 256;
    let root = from_body(body, RootSeed { redactor, capacity }).ok()?;
    judged(root, redactor)
}

/// identity-idp's judging of the answer read, as `resolution::judge_body`
/// does it on a `Value`; `None` wherever that would raise or read what
/// this reader did not keep.
fn judged(root: Root<'_>, redactor: &Redactor) -> Option<(Judged, Errors)> {
    let status_obj = object(root.status.as_ref(), "Status").ok()?;
    let transaction_status = status_obj.and_then(|s| s.get("TransactionStatus"));
    let status = transaction_status.and_then(Value::as_str);
    if status == Some("error") {
        // Its `base` quotes `Information`, which this reader skipped.
        return None;
    }
    let mut products = root.products.unwrap_or_default();

    let mut logged = Errors::default();
    for product in &mut products {
        if !product.should_log() {
            continue;
        }
        let Field::Text(step) = &product.step else {
            // identity-idp raises on a logged product without a step name.
            return None;
        };
        if product.kind.is("PhoneFinder") && product.parameter_details {
            // The `Value` path drops them; this writer has written them.
            return None;
        }
        let written = String::from_utf8(std::mem::take(&mut product.written)).ok()?;
        let written = RawValue::from_string(written).ok()?;
        logged.insert(redactor.text(step), ErrorValue::Written(written));
    }
    // `Information` is read only for the status `error`, left out above.
    let base = base_error(&Map::new(), status_obj, transaction_status, redactor).ok()?;

    let failed_code = match status {
        Some("failed") => match reason_code(status_obj).ok()? {
            Some(Value::String(code)) => Some(code.as_str()),
            _ => return None,
        },
        _ => None,
    };
    let instant_verify = match products.as_slice() {
        [only] if only.kind.is("InstantVerify") => Some(only),
        _ => None,
    };
    let attributes = instant_verify
        .map(Product::failed_attributes)
        .unwrap_or_default();
    let can_pass = can_pass(
        failed_code,
        instant_verify.is_some_and(|p| p.status.is("fail")),
        &attributes,
    );
    let id = |key: &str| {
        status_obj
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let judged = Judged {
        passed: status == Some("passed"),
        base,
        logged: Vec::new(),
        transaction_id: id("ConversationId"),
        reference: id("Reference"),
        can_pass,
        attributes,
    };
    Some((judged, logged))
}

/// What the reader kept of the answer's root.
struct Root<'de> {
    /// `Status`, small, read whole for the `Value` path's own readers.
    status: Option<Value>,
    products: Option<Vec<Product<'de>>>,
}

/// A product: the fields identity-idp reads, and the product written.
#[derive(Default)]
struct Product<'de> {
    status: Field<'de>,
    kind: Field<'de>,
    step: Field<'de>,
    items: Items<'de>,
    parameter_details: bool,
    /// The product redacted, in its one-element array, as the line has it.
    written: Vec<u8>,
}

/// A field as `Value::as_str` sees it, and whether it is there at all.
#[derive(Default)]
enum Field<'de> {
    #[default]
    Absent,
    Text(Cow<'de, str>),
    /// Present, not a string (`null` included).
    Other,
}

impl Field<'_> {
    fn is(&self, text: &str) -> bool {
        matches!(self, Field::Text(t) if t == text)
    }
}

/// A product's `Items`, in the shapes this reader takes.
#[derive(Default)]
enum Items<'de> {
    #[default]
    Absent,
    Null,
    List(Vec<Item<'de>>),
}

/// One item (an object: any other shape is left to the `Value` path).
#[derive(Default)]
struct Item<'de> {
    name: Field<'de>,
    status: Field<'de>,
    has_reason: bool,
}

impl Product<'_> {
    /// identity-idp's `should_log?` (its raises are shapes this reader
    /// refused while reading).
    fn should_log(&self) -> bool {
        if !self.status.is("pass") || self.kind.is("InstantVerify") {
            return true;
        }
        match &self.items {
            Items::Absent | Items::Null => false,
            Items::List(items) => items.iter().any(|item| item.has_reason),
        }
    }

    /// identity-idp's `CheckToAttributeMapper`, as `failed_attributes`.
    fn failed_attributes(&self) -> Vec<String> {
        let Items::List(items) = &self.items else {
            return Vec::new();
        };
        let mut attributes: Vec<String> = items
            .iter()
            .filter(|item| !item.status.is("pass"))
            .map(|item| {
                let name = match &item.name {
                    Field::Text(name) => name,
                    _ => "",
                };
                attribute_for(name).label().to_owned()
            })
            .collect();
        attributes.sort();
        attributes.dedup();
        attributes
    }
}

/// The text when it is borrowed from the body.
fn borrowed<'de>(text: &Cow<'de, str>) -> Option<&'de str> {
    match *text {
        Cow::Borrowed(text) => Some(text),
        Cow::Owned(_) => None,
    }
}

/// Why this reader gave an answer up (never seen: the `Value` path reads it).
fn refuse<E: de::Error>(why: &str) -> E {
    E::custom(why)
}

struct RootSeed<'r> {
    redactor: &'r Redactor,
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for RootSeed<'_> {
    type Value = Root<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Root<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RootSeed<'_> {
    type Value = Root<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a LexisNexis answer object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Root<'de>, A::Error> {
        let mut root = Root {
            status: None,
            products: None,
        };
        while let Some(Key(key)) = map.next_key()? {
            match &*key {
                "Status" if root.status.is_none() => root.status = Some(map.next_value()?),
                "Products" if root.products.is_none() => {
                    root.products = Some(map.next_value_seed(ProductsSeed {
                        redactor: self.redactor,
                        capacity: self.capacity,
                    })?);
                }
                // The last of a duplicated key counts for `Value`.
                "Status" | "Products" => return Err(refuse("a duplicated key")),
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(root)
    }
}

/// `Products`: a list of objects, each read by [`ProductSeed`].
struct ProductsSeed<'r> {
    redactor: &'r Redactor,
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for ProductsSeed<'_> {
    type Value = Vec<Product<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ProductsSeed<'_> {
    type Value = Vec<Product<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of products")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut products = Vec::new();
        while let Some(product) = seq.next_element_seed(ProductSeed {
            redactor: self.redactor,
            capacity: self.capacity,
        })? {
            products.push(product);
        }
        Ok(products)
    }
}

/// One product: written whole, its judged fields noted on the way.
struct ProductSeed<'r> {
    redactor: &'r Redactor,
    /// Room for the product as written: a product is at most the body,
    /// and a little longer where redaction lengthened it.
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for ProductSeed<'_> {
    type Value = Product<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ProductSeed<'_> {
    type Value = Product<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a product object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut writer = Writer {
            out: Vec::with_capacity(self.capacity),
            redactor: self.redactor,
            kept: Vec::new(),
        };
        let mut product = Product::default();
        writer.out.extend_from_slice(b"[{");
        let mut keys = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let role = match writer.key(key, &mut keys)? {
                "ProductStatus" => Role::Field(&mut product.status),
                "ProductType" => Role::Field(&mut product.kind),
                "ExecutedStepName" => Role::Field(&mut product.step),
                "Items" => Role::Items(&mut product.items),
                "ParameterDetails" => {
                    product.parameter_details = true;
                    Role::Plain
                }
                _ => Role::Plain,
            };
            map.next_value_seed(Copy {
                writer: &mut writer,
                role,
            })?;
        }
        writer.out.extend_from_slice(b"}]");
        product.written = writer.out;
        Ok(product)
    }
}

/// Where the JSON of a product is written, and what redacts its text.
struct Writer<'r, 'de> {
    out: Vec<u8>,
    redactor: &'r Redactor,
    /// Short texts the redaction keeps as they are, seen already: a
    /// product's items repeat a few keys and values (`ItemStatus`, `pass`),
    /// and comparing one with these costs less than redacting it again.
    kept: Vec<&'de str>,
}

impl<'de> Writer<'_, 'de> {
    /// An object's key, after a comma unless it is the first (`keys` holds
    /// the object's keys so far). Refuses a key twice (`Value` keeps the
    /// last, at the first's place), a key redaction changes (`Value`'s
    /// walk rebuilds the object) and a date piece (its walk decides those
    /// from the whole object).
    fn key<'k, E: de::Error>(
        &mut self,
        key: Cow<'de, str>,
        keys: &'k mut Vec<Cow<'de, str>>,
    ) -> Result<&'k str, E> {
        if keys.contains(&key) {
            return Err(refuse("a duplicated key"));
        }
        if self.redactor.may_be_dob_piece(&key) {
            return Err(refuse("a date piece"));
        }
        if !self.kept.contains(&&*key) {
            if !self.redactor.json_key_kept(&key) {
                return Err(refuse("a key the redaction changes"));
            }
            self.remember_kept(borrowed(&key));
        }
        if !keys.is_empty() {
            self.out.push(b',');
        }
        self.string(&key)?;
        self.out.push(b':');
        keys.push(key);
        Ok(keys.last().map_or("", |key| key))
    }

    fn string<E: de::Error>(&mut self, text: &str) -> Result<(), E> {
        write_json_string(&mut self.out, text).map_err(E::custom)
    }

    /// A vendor's string, redacted as `Redactor::json` does; `from_body`
    /// is the same text when it is borrowed from the body (only such a
    /// text is remembered as kept).
    fn text<E: de::Error>(&mut self, text: &str, from_body: Option<&'de str>) -> Result<(), E> {
        if self.kept.contains(&text) {
            return self.string(text);
        }
        match self.redactor.json_string(text) {
            Cow::Borrowed(kept) => {
                self.string(kept)?;
                self.remember_kept(from_body);
                Ok(())
            }
            Cow::Owned(redacted) => self.string(&redacted),
        }
    }

    /// Notes a text the redaction keeps, when it is borrowed from the body
    /// (`None` when not) and short (a long one rarely comes again), up to a
    /// few dozen.
    fn remember_kept(&mut self, text: Option<&'de str>) {
        const MOST: usize = 48;
        const LONGEST: usize = 40;
        if let Some(text) = text
            && text.len() <= LONGEST
            && self.kept.len() < MOST
        {
            self.kept.push(text);
        }
    }

    /// A number as `Value` holds and writes it, or the redacted string.
    fn number<E: de::Error>(&mut self, number: serde_json::Number) -> Result<(), E> {
        if self.redactor.json_number_kept(&number) {
            serde_json::to_writer(&mut self.out, &number).map_err(E::custom)
        } else {
            self.string(REDACTED)
        }
    }
}

/// What a value inside a product is to the judging, so the copy notes it.
enum Role<'s, 'de> {
    Plain,
    Field(&'s mut Field<'de>),
    Items(&'s mut Items<'de>),
    Item(&'s mut Item<'de>),
}

/// Writes one value (and what is inside it) as the line has it, noting
/// what its role asks for.
struct Copy<'w, 'r, 's, 'de> {
    writer: &'w mut Writer<'r, 'de>,
    role: Role<'s, 'de>,
}

impl<'de> Copy<'_, '_, '_, 'de> {
    /// A string in this role: written, and kept when a field asks for it.
    fn text<E: de::Error>(self, text: Cow<'de, str>) -> Result<(), E> {
        self.writer.text(&text, borrowed(&text))?;
        match self.role {
            Role::Plain => Ok(()),
            Role::Field(field) => {
                *field = Field::Text(text);
                Ok(())
            }
            Role::Items(_) | Role::Item(_) => Err(refuse("an unusual shape")),
        }
    }

    /// A scalar (anything but a string, a list or an object) in this role:
    /// a field that is not a string; `Items` and an item take none.
    fn scalar<E: de::Error>(self, null: bool) -> Result<(), E> {
        match self.role {
            Role::Plain => {}
            Role::Field(field) => *field = Field::Other,
            Role::Items(items) if null => *items = Items::Null,
            Role::Items(_) | Role::Item(_) => return Err(refuse("an unusual shape")),
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Copy<'_, '_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Copy<'_, '_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        self.writer
            .out
            .extend_from_slice(if b { b"true" } else { b"false" });
        self.scalar(false)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.writer.number(n.into())?;
        self.scalar(false)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.writer.number(n.into())?;
        self.scalar(false)
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        // serde_json reads only finite floats.
        let number = serde_json::Number::from_f64(n).ok_or_else(|| refuse("a float"))?;
        self.writer.number(number)?;
        self.scalar(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.writer.out.extend_from_slice(b"null");
        self.scalar(true)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<(), E> {
        self.text(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.text(Cow::Owned(text.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let writer = self.writer;
        let mut list = Vec::new();
        let (items, plain) = match self.role {
            Role::Plain => (None, true),
            Role::Field(field) => {
                *field = Field::Other;
                (None, true)
            }
            Role::Items(items) => (Some(items), false),
            Role::Item(_) => return Err(refuse("an unusual shape")),
        };
        writer.out.push(b'[');
        let mut first = true;
        loop {
            let before = writer.out.len();
            if !first {
                writer.out.push(b',');
            }
            let mut item = Item::default();
            let role = if plain {
                Role::Plain
            } else {
                Role::Item(&mut item)
            };
            let more = seq
                .next_element_seed(Copy {
                    writer: &mut *writer,
                    role,
                })?
                .is_some();
            if !more {
                writer.out.truncate(before);
                break;
            }
            if !plain {
                list.push(item);
            }
            first = false;
        }
        writer.out.push(b']');
        if let Some(items) = items {
            *items = Items::List(list);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let writer = self.writer;
        let mut item = match self.role {
            Role::Plain => None,
            Role::Field(field) => {
                *field = Field::Other;
                None
            }
            Role::Item(item) => Some(item),
            // An object for `Items`: the `Value` path tells an empty one
            // from a full one (and raises on the latter).
            Role::Items(_) => return Err(refuse("an unusual shape")),
        };
        writer.out.push(b'{');
        let mut keys = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            let role = match (item.as_deref_mut(), writer.key(key, &mut keys)?) {
                (Some(item), "ItemName") => Role::Field(&mut item.name),
                (Some(item), "ItemStatus") => Role::Field(&mut item.status),
                (Some(item), "ItemReason") => {
                    item.has_reason = true;
                    Role::Plain
                }
                _ => Role::Plain,
            };
            map.next_value_seed(Copy {
                writer: &mut *writer,
                role,
            })?;
        }
        writer.out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use serde_json::json;

    use super::super::{judge_value, verdict};
    use super::*;
    use crate::applicant;
    use crate::pair::encode;

    const WORKFLOW: &str = "test.wf";

    fn fixture_redactor() -> Redactor {
        let request =
            include_bytes!("../../../tests/fixtures/lexis_nexis/instant_verify/request.json");
        Redactor::new(Some(&applicant::parse(request).expect("applicant")))
    }

    /// The streamed verdict on `body`, when the reader takes it, after
    /// checking that it writes the very bytes the `Value` path writes.
    fn same_as_value(body: &[u8], redactor: &Redactor) -> Option<Vec<u8>> {
        let (judged, logged) = judge(body, redactor)?;
        let streamed = verdict(judged, logged, WORKFLOW, redactor);
        let value = judge_value(200, Some("application/json"), body, WORKFLOW, redactor);
        let line = encode(&streamed).expect("encodes");
        assert_eq!(
            String::from_utf8_lossy(&line),
            String::from_utf8_lossy(&encode(&value).expect("encodes")),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(streamed.ids_withheld, value.ids_withheld);
        Some(line)
    }

    #[test]
    fn identity_idp_fixtures_stream_and_write_what_a_value_writes() {
        let fixtures: [&[u8]; 7] = [
            include_bytes!(
                "../../../tests/fixtures/lexis_nexis/instant_verify/successful_response.json"
            ),
            include_bytes!(
                "../../../tests/fixtures/lexis_nexis/instant_verify/address_failure_response.json"
            ),
            include_bytes!(
                "../../../tests/fixtures/lexis_nexis/instant_verify/date_of_birth_and_address_failure_response.json"
            ),
            include_bytes!(
                "../../../tests/fixtures/lexis_nexis/instant_verify/date_of_birth_failure_response.json"
            ),
            include_bytes!(
                "../../../tests/fixtures/lexis_nexis/instant_verify/drivers_license_failure_response.json"
            ),
            include_bytes!(
                "../../../tests/fixtures/lexis_nexis/instant_verify/drivers_license_info_missing_response.json"
            ),
            include_bytes!(
                "../../../tests/fixtures/lexis_nexis/instant_verify/identity_not_found_response.json"
            ),
        ];
        for redactor in [Redactor::default(), fixture_redactor()] {
            for fixture in fixtures {
                assert!(
                    same_as_value(fixture, &redactor).is_some(),
                    "{}",
                    String::from_utf8_lossy(fixture)
                );
            }
        }
    }

    #[test]
    fn answers_it_cannot_write_as_a_value_would_are_left_to_the_value_path() {
        let redactor = fixture_redactor();
        let product = |extra: &str| {
            format!(
                r#"{{"Status":{{"TransactionStatus":"passed"}},"Products":[{{"ProductType":"InstantVerify","ExecutedStepName":"IV","ProductStatus":"pass"{extra}}}]}}"#
            )
        };
        let left = [
            // A key twice: `Value` keeps the last at the first's place.
            product(r#","ProductStatus":"fail""#),
            product(r#","Items":[{"ItemName":"A","ItemName":"B"}]"#),
            r#"{"Status":{"TransactionStatus":"passed"},"Status":{"TransactionStatus":"failed"}}"#
                .to_owned(),
            // A key redaction changes, and a date piece of a known date.
            product(r#","ItemInfo":{"Testy":1}"#),
            product(r#","ItemInfo":{"Year":1980,"Month":1}"#),
            // Shapes the `Value` path tells apart or raises on.
            product(r#","Items":{}"#),
            product(r#","Items":["a string"]"#),
            product(r#","Items":"text""#),
            r#"{"Status":{"TransactionStatus":"error"},"Information":{}}"#.to_owned(),
            r#"{"Status":{"TransactionStatus":"failed"}}"#.to_owned(),
            r#"{"Status":"passed"}"#.to_owned(),
            r#"{"Products":{}}"#.to_owned(),
            r#"[]"#.to_owned(),
            r#"{"Status":{"TransactionStatus":"passed"},"Products":[{"ProductType":"PhoneFinder","ProductStatus":"fail","ExecutedStepName":"PF","ParameterDetails":[]}]}"#.to_owned(),
            r#"{"Status":{"TransactionStatus":"passed"},"Products":[{"ProductStatus":"fail"}]}"#
                .to_owned(),
            // Not JSON, or JSON with something after it.
            r#"{"Status":{}} {}"#.to_owned(),
        ];
        for body in &left {
            assert!(judge(body.as_bytes(), &redactor).is_none(), "{body}");
        }
        // Without a date of birth to match, date pieces are plain keys.
        let body = product(r#","ItemInfo":{"Year":1980,"Month":1}"#);
        assert!(same_as_value(body.as_bytes(), &Redactor::default()).is_some());
    }

    #[test]
    fn what_it_writes_is_redacted_and_escaped_as_the_line_is() {
        let redactor = fixture_redactor();
        let body = json!({
            "Status": {"TransactionStatus": "failed", "ConversationId": 31000, "Reference": "Reference1",
                       "TransactionReasonCode": {"Code": "priority.scoring.model.verification.fail"}},
            "Products": [{
                "ProductType": "InstantVerify", "ExecutedStepName": "Execute Instant Verify",
                "ProductStatus": "fail",
                "Items": [
                    {"ItemName": "SsnFullNameMatch", "ItemStatus": "fail",
                     "ItemReason": {"Code": "testy mctesterson, 123-45-6789 at 123 MAIN ST"}},
                    {"ItemName": "DOBFullVerified", "ItemStatus": "pass",
                     "ItemInfo": {"When": "1/1/1980", "Score": 70802, "Ratio": 0.5, "Seen": true,
                                  "Note": "line\u{2028}end\u{7f} \"quoted\"", "None": null}}
                ]
            }]
        });
        let line = same_as_value(body.to_string().as_bytes(), &redactor).expect("streamed");
        let line = String::from_utf8(line).expect("utf-8");
        for pii in ["Testy", "testy", "123-45-6789", "MAIN", "1980", "70802"] {
            assert!(!line.contains(pii), "{pii} in {line}");
        }
        assert!(line.contains(r#""Score":"[redacted]""#), "{line}");
        assert!(line.contains(r#"line\u2028end\u007f \"quoted\""#), "{line}");
        assert!(line.contains(r#""Ratio":0.5,"Seen":true"#), "{line}");
    }

    /// A JSON value from a few shapes and texts, some the fixture
    /// applicant's.
    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            Just(json!(1980)),
            Just(json!(70802)),
            prop::sample::select(vec![
                "pass",
                "fail",
                "",
                " ",
                "Testy",
                "McTesterson",
                "123 Main St",
                "1/1/1980",
                "123-45-6789",
                "x@example.com",
                "Baton\tRouge",
                "ＴＥＳＴＹ",
                "Zip 70802",
                "AddrDeliverable",
                "SSNSSAValid",
                "DOBFullVerified",
                "DriversLicense",
                "InstantVerify",
                "PhoneFinder",
                "base",
                "ssn",
                "Step",
                "line\u{2028}end",
            ])
            .prop_map(|s| Value::String(s.to_owned())),
        ]
    }

    fn field(names: &'static [&'static str]) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            prop::sample::select(names).prop_map(|s| Some(Value::String(s.to_owned()))),
            scalar().prop_map(Some),
        ]
    }

    fn object_of(entries: Vec<(&str, Option<Value>)>) -> Value {
        Value::Object(
            entries
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                .collect(),
        )
    }

    fn item() -> impl Strategy<Value = Value> {
        (
            field(&["AddrDeliverable", "SSNSSAValid", "DOBFullVerified", "Other"]),
            field(&["pass", "fail"]),
            prop::option::of(scalar()),
            prop::option::of(prop::collection::vec(scalar(), 0..3)),
        )
            .prop_map(|(name, status, reason, info)| {
                object_of(vec![
                    ("ItemName", name),
                    ("ItemStatus", status),
                    ("ItemReason", reason.map(|code| json!({ "Code": code }))),
                    ("ItemInfo", info.map(Value::Array)),
                ])
            })
    }

    fn product() -> impl Strategy<Value = Value> {
        (
            field(&["InstantVerify", "PhoneFinder", "Other"]),
            field(&["Execute Instant Verify", "base", "ssn", "Step"]),
            field(&["pass", "fail"]),
            prop_oneof![
                Just(None),
                Just(Some(Value::Null)),
                prop::collection::vec(item(), 0..4).prop_map(|items| Some(Value::Array(items))),
            ],
            prop::option::of(scalar()),
        )
            .prop_map(|(kind, step, status, items, extra)| {
                object_of(vec![
                    ("ProductType", kind),
                    ("ExecutedStepName", step),
                    ("ProductStatus", status),
                    ("Items", items),
                    ("Extra", extra),
                ])
            })
    }

    fn answer() -> impl Strategy<Value = Value> {
        (
            field(&["passed", "failed", "error", "weird"]),
            prop::option::of(field(&[
                "priority.scoring.model.verification.fail",
                "total.scoring.model.verification.fail",
                "other",
            ])),
            field(&["123456", "Reference1"]),
            prop::option::of(prop::collection::vec(product(), 0..3)),
        )
            .prop_map(|(status, code, id, products)| {
                let reason = code.map(|code| object_of(vec![("Code", code)]));
                let status = object_of(vec![
                    ("TransactionStatus", status),
                    ("TransactionReasonCode", reason),
                    ("ConversationId", id.clone()),
                    ("Reference", id),
                ]);
                object_of(vec![
                    ("Status", Some(status)),
                    ("Products", products.map(Value::Array)),
                ])
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn streamed_and_value_verdicts_are_the_same_bytes(answer in answer()) {
            let body = answer.to_string();
            for redactor in [Redactor::default(), fixture_redactor()] {
                same_as_value(body.as_bytes(), &redactor);
            }
        }
    }

    /// The generated answers reach the streamed reader often enough for the
    /// comparison above to mean something.
    #[test]
    fn most_generated_answers_are_streamed() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = answer();
        let (mut streamed, total) = (0, 500);
        for _ in 0..total {
            let body = strategy
                .new_tree(&mut runner)
                .expect("an answer")
                .current()
                .to_string();
            streamed += usize::from(judge(body.as_bytes(), &fixture_redactor()).is_some());
        }
        assert!(streamed * 4 >= total, "{streamed} of {total} streamed");
    }
}
