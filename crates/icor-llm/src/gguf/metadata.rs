//! Typed GGUF metadata values (`gguf_metadata_value_type`).

use super::cursor::{Cursor, ReadResult};

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<MetaValue>),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// Smallest encoded size of a value of each type, used to reject absurd array lengths before
/// allocating.
fn min_size(type_id: u32) -> usize {
    match type_id {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10 | 11 | 12 => 8,
        9 => 12,
        _ => 1,
    }
}

impl MetaValue {
    /// Reads a value of `type_id`; arrays nest at most `depth` levels.
    pub(crate) fn read(cur: &mut Cursor<'_>, type_id: u32, depth: u32) -> ReadResult<Self> {
        Ok(match type_id {
            0 => Self::U8(cur.u8("u8 value")?),
            1 => Self::I8(cur.u8("i8 value")? as i8),
            2 => Self::U16(cur.u16("u16 value")?),
            3 => Self::I16(cur.u16("i16 value")? as i16),
            4 => Self::U32(cur.u32("u32 value")?),
            5 => Self::I32(cur.u32("i32 value")? as i32),
            6 => Self::F32(cur.f32("f32 value")?),
            7 => match cur.u8("bool value")? {
                0 => Self::Bool(false),
                1 => Self::Bool(true),
                b => return Err(cur.error(format!("bool value {b} is neither 0 nor 1"))),
            },
            8 => Self::String(cur.string("string value")?),
            9 => {
                if depth == 0 {
                    return Err(cur.error("arrays nested too deeply"));
                }
                let elem = cur.u32("array element type")?;
                let n = cur.u64("array length")?;
                let need = (n as u128) * (min_size(elem) as u128);
                if need > cur.remaining() as u128 {
                    return Err(cur.error(format!(
                        "truncated: array of {n} elements of type {elem} cannot fit in {} bytes",
                        cur.remaining()
                    )));
                }
                let mut out = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    out.push(Self::read(cur, elem, depth - 1)?);
                }
                Self::Array(out)
            }
            10 => Self::U64(cur.u64("u64 value")?),
            11 => Self::I64(cur.u64("i64 value")? as i64),
            12 => Self::F64(cur.f64("f64 value")?),
            t => return Err(cur.error(format!("unknown metadata value type {t}"))),
        })
    }

    /// The value as an unsigned integer, if it is an integer ≥ 0.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::I8(v) => Some(v.into()),
            Self::I16(v) => Some(v.into()),
            Self::I32(v) => Some(v.into()),
            Self::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float (integers convert).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }
}
