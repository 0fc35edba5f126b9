//! The matcher tree under construction: element paths inserted step by step, each final
//! element given its role; overlaps and values holding elements are refused.

use toml::Spanned;

use super::ctx::Ctx;
use super::{Attr, Node, Role};
use crate::mapping::error::MappingError;

pub(super) struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Adds a record's field: an element path, or one ending in `@attribute` (the
    /// attribute of that element, or of the record itself for a bare `@attribute`).
    pub(super) fn insert_field(
        &mut self,
        ctx: &Ctx<'_>,
        record: usize,
        path: &Spanned<String>,
        role: Role,
    ) -> Result<(), MappingError> {
        let raw = path.get_ref();
        let (elements, last) = match raw.rsplit_once('/') {
            Some((elements, last)) => (Some(elements), last),
            None => (None, raw.as_str()),
        };
        let Some(attribute) = last.strip_prefix('@') else {
            return self.insert(ctx, record, path, role).map(|_| ());
        };
        let (uri, local) = ctx.name(attribute, path)?;
        let at = match elements {
            Some(elements) => self.descend(ctx, record, ctx.steps_of(elements, path)?, path)?,
            None => record,
        };
        let node = &mut self.nodes[at];
        if node
            .attrs
            .iter()
            .any(|a| *a.uri == *uri && *a.local == *local)
        {
            return ctx.err(
                path.span(),
                format!("{raw:?} is already mapped to something else"),
            );
        }
        node.attrs.push(Attr {
            uri: uri.into(),
            local: local.into(),
            role,
        });
        Ok(())
    }

    /// Adds `path` below node `from`, giving the last element `role`.
    pub(super) fn insert(
        &mut self,
        ctx: &Ctx<'_>,
        from: usize,
        path: &Spanned<String>,
        role: Role,
    ) -> Result<usize, MappingError> {
        let at = self.descend(ctx, from, ctx.steps(path)?, path)?;
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

    /// Walks (and creates) the element `steps` below `from`; returns the last one.
    fn descend(
        &mut self,
        ctx: &Ctx<'_>,
        from: usize,
        steps: Vec<(String, String, String)>,
        path: &Spanned<String>,
    ) -> Result<usize, MappingError> {
        let mut at = from;
        for (uri, local, display) in steps {
            if matches!(
                self.nodes[at].role,
                Role::Vn
                    | Role::AsOf
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
                        attrs: Vec::new(),
                    });
                    let id = self.nodes.len() - 1;
                    self.nodes[at].children.push(id);
                    id
                }
            };
        }
        Ok(at)
    }
}
