//! Reading JSON straight into the few fields a judge needs, as `serde_json::Value` would read it: the same bytes accepted and refused, the last of a duplicated key kept, a field of the wrong type read as absent.
//!
//! The judges used to parse every answer into a `Value` (an `IndexMap` and
//! a `String` per object and text) and then look a dozen fields up in it.
//! The readers here take the fields as they go by, borrowing the text
//! where it has no escapes, and skip the rest without building it.
//!
//! Skipping is done by [`Skip`], which reads every value it skips through
//! `deserialize_any`, as `Value` does, and not by serde's `IgnoredAny`:
//! serde_json skips an `IgnoredAny` with a scanner that checks neither its
//! nesting limit (128) nor a number's range (`1e400`) nor a string's
//! escapes (a lone surrogate), so a derived struct would judge answers
//! that the `Value` path refuses as not JSON. With `Skip`, a body either
//! parses here and as a `Value`, or in neither.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// `seed` run over a whole body, as `serde_json::from_slice` reads one
/// (anything after the value refused). A body that is UTF-8 (checked once,
/// a word at a time) is read as a `&str`, which spares serde_json checking
/// every string it holds again; any other is read as bytes, which refuses
/// it exactly where it did.
pub fn from_body<'de, S: DeserializeSeed<'de>>(
    body: &'de [u8],
    seed: S,
) -> serde_json::Result<S::Value> {
    fn whole<'de, R: serde_json::de::Read<'de>, S: DeserializeSeed<'de>>(
        mut deserializer: serde_json::Deserializer<R>,
        seed: S,
    ) -> serde_json::Result<S::Value> {
        let value = seed.deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }
    match std::str::from_utf8(body) {
        Ok(text) => whole(serde_json::Deserializer::from_str(text), seed),
        Err(_) => whole(serde_json::Deserializer::from_slice(body), seed),
    }
}

/// Any JSON value, read whole (every check serde_json makes) and dropped.
pub struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

/// A JSON value seen as one of the shapes a judge tells apart, the
/// content of an object or a list left to the caller's reader `T`.
pub enum Shape<'de, T> {
    Null,
    Bool,
    /// A number as `Value` keeps it.
    Number(serde_json::Number),
    Text(Cow<'de, str>),
    /// An object or a list, read by `T`.
    Nested(T),
}

struct ShapeVisitor<T>(std::marker::PhantomData<T>);

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// An object's key: borrowed from the body unless it holds an escape.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(text)))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E: de::Error>(self, text: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(text)))
    }
}

/// What reads the inside of an object or a list for [`Value`]-like
/// readers: `object` is given the entries, `list` the items; either may
/// refuse the shape by returning `None` after skipping what it does not
/// want (every entry or item must be read, here or by [`Skip`]). By
/// default both refuse: a reader says only which shape it reads.
pub trait Nested<'de>: Sized {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        skip_entries(&mut map)?;
        Ok(None)
    }
    fn list<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        skip_items(&mut seq)?;
        Ok(None)
    }
}

/// Any JSON value as a [`Shape`], objects and lists read by `T`.
pub struct Any<'de, T>(pub Shape<'de, Option<T>>);

impl<'de, T: Nested<'de>> de::Deserialize<'de> for Any<'de, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ShapeVisitor::<T>(std::marker::PhantomData))
            .map(Any)
    }
}

impl<'de, T: Nested<'de>> Visitor<'de> for ShapeVisitor<T> {
    type Value = Shape<'de, Option<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Shape::Bool)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Shape::Number(n.into()))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Shape::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        // serde_json gives only finite floats; `Value` keeps them so too.
        Ok(serde_json::Number::from_f64(n).map_or(Shape::Null, Shape::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Shape::Text(Cow::Borrowed(text)))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Shape::Text(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Shape::Text(Cow::Owned(text)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Shape::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Shape::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::list(seq).map(Shape::Nested)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::object(map).map(Shape::Nested)
    }
}

/// Reads nothing of an object or a list (skips it): for values whose
/// insides a judge does not look at, only whether there were any.
pub struct Opaque;

impl<'de> Nested<'de> for Opaque {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        skip_entries(&mut map)?;
        Ok(Some(Opaque))
    }
    fn list<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        skip_items(&mut seq)?;
        Ok(Some(Opaque))
    }
}

/// Skips the rest of an object's entries.
fn skip_entries<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    while map.next_key::<Skip>()?.is_some() {
        map.next_value::<Skip>()?;
    }
    Ok(())
}

/// Skips the rest of a list's items.
fn skip_items<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(())
}
