//! A node's attributes by name, typed, with the node named in every error.
use crate::error::OnnxError;
use crate::proto::{AttributeProto, NodeProto};

pub(crate) struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a NodeProto) -> Attrs<'a> {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
    }

    pub fn err(&self, msg: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            node: super::node_name(self.node),
            op: super::op_type(self.node),
            msg: msg.into(),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).and_then(|a| a.i).unwrap_or(default)
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).and_then(|a| a.f).unwrap_or(default)
    }

    pub fn float_opt(&self, name: &str) -> Option<f32> {
        self.get(name).and_then(|a| a.f)
    }

    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.get(name).map(|a| a.ints.clone())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .and_then(|a| a.s.as_ref())
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }

    pub fn tensor(&self, name: &str) -> Option<&'a crate::proto::TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }
}
