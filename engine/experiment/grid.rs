//! Grid axes of a config: a value or a list of values, and the Cartesian product of
//! the axes (the runs of a sweep).

use serde::{Deserialize, Serialize};

/// A value or a list of values: `width: 500` or `width: [500, 1000]`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// By hand rather than `untagged`, so that a bad element keeps its own message
/// ("unknown variant `sigmoid`, expected one of ...") and its line and column.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::{IntoDeserializer, SeqAccess, Visitor};
        struct OneOrManyVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self, mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element()? {
                    values.push(v);
                }
                Ok(OneOrMany::Many(values))
            }
            fn visit_str<E: serde::de::Error>(
                self, v: &str,
            ) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_bool<E: serde::de::Error>(
                self, v: bool,
            ) -> std::result::Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(std::marker::PhantomData))
    }
}

impl<T: Clone> OneOrMany<T> {
    pub fn values(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The Cartesian product of axes of lengths `lens`: index tuples in row-major order
/// (the last axis innermost); empty when any axis is.
pub fn grid_product(lens: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let total: usize = lens.iter().product();
    (0..total).map(move |mut flat| {
        let mut index = vec![0; lens.len()];
        for (slot, &len) in index.iter_mut().zip(lens).rev() {
            *slot = flat % len;
            flat /= len;
        }
        index
    })
}

/// The runs of a grid: one `$run` per point of the Cartesian product of the axes (each
/// a [`OneOrMany`] of `Copy` values), the last axis innermost; each field of `$run`
/// takes its axis's value.
macro_rules! grid_runs {
    ($run:ident { $($field:ident: $axis:expr,)* }) => {{
        $(let $field = $axis.values();)*
        let lens = [$($field.len()),*];
        $crate::experiment::grid::grid_product(&lens)
            .map(|index| {
                // A struct expression evaluates its fields in the order written: the
                // axes' indices are taken in order.
                let mut index = index.into_iter();
                $run {
                    $($field: $field[index.next().expect("one index per axis")],)*
                }
            })
            .collect()
    }};
}
pub(crate) use grid_runs;
