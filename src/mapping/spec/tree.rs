//! The matcher tree under construction: element paths inserted step by step, each final
//! element given its role; overlaps and values holding elements are refused.

use toml::Spanned;

use super::compile::Ctx;
use super::{Node, Role};
use crate::mapping::error::MappingError;

pub(super) struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Adds `path` below node `from`, giving the last element `role`.
    pub(super) fn insert(
        &mut self,
        ctx: &Ctx<'_>,
        from: usize,
        path: &Spanned<String>,
        role: Role,
    ) -> Result<usize, MappingError> {
        let steps = ctx.steps(path)?;
        let mut at = from;
        for (uri, local, display) in steps {
            if matches!(
                self.nodes[at].role,
                Role::Vn
                    | Role::NoAccount
                    | Role::OfficeNumber
                    | Role::OfficeAgency
                    | Role::Field(..)
            ) {
                return ctx.err(
                    path.span(),
                    format!("{:?} lies inside a value element", path.get_ref()),
                );
            }
            let existing = self.nodes[at]
                .children
                .iter()
                .copied()
                .find(|&c| *self.nodes[c].uri == *uri && *self.nodes[c].local == *local);
            at = match existing {
                Some(c) => c,
                None => {
                    self.nodes.push(Node {
                        uri: uri.into(),
                        local: local.into(),
                        display: display.into(),
                        children: Vec::new(),
                        role: Role::Plain,
                    });
                    let id = self.nodes.len() - 1;
                    self.nodes[at].children.push(id);
                    id
                }
            };
        }
        if at == from || self.nodes[at].role != Role::Plain {
            return ctx.err(
                path.span(),
                format!("{:?} is already mapped to something else", path.get_ref()),
            );
        }
        if !self.nodes[at].children.is_empty()
            && !matches!(role, Role::OfficeScope | Role::Record(_))
        {
            return ctx.err(
                path.span(),
                format!("{:?} holds other mapped elements", path.get_ref()),
            );
        }
        self.nodes[at].role = role;
        Ok(at)
    }
}
