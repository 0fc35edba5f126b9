//! JSON body → `ApgClaim`, collecting EVERY error with its RFC 6901 pointer instead of
//! stopping at the first. The body is walked as a `serde_json::Value` (a derived serde
//! struct stops at the first wrong member); messages say what is wrong, never the value.

use serde_json::Value;

use super::walker::{Obj, Walker};

use super::{
    APG_CLAIM_TYPE, Activity, Address, ApgClaim, Child, Claimant, Employee, Iban, Language,
    Payment, ServicePeriod, ServiceType, Sex, Uid,
};
use crate::model::{Canton, Vn};

/// Longest free-text member (names, street, town, employer).
const MAX_TEXT: usize = 100;
/// Most children a claim may list.
pub const MAX_CHILDREN: usize = 20;

/// One invalid member of a claim.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// RFC 6901 JSON pointer to the member (`/claimant/vn`; `""` for the whole body).
    pub pointer: String,
    /// What is wrong, without the value.
    pub message: String,
}

/// Every invalid member of a claim, in document order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the claim has {} invalid member(s), first at {:?}", .0.len(), .0.first().map(|e| e.pointer.as_str()).unwrap_or(""))]
pub struct ClaimErrors(pub Vec<FieldError>);

/// Parses a body (see [`ApgClaim::from_json`]).
pub(super) fn claim(body: &[u8]) -> Result<ApgClaim, ClaimErrors> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ClaimErrors(vec![FieldError {
            pointer: String::new(),
            message: format!(
                "the body is not JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
        }])
    })?;
    let mut w = Walker::default();
    let claim = w.claim(&value);
    match claim {
        Some(c) if w.errors.is_empty() => Ok(c),
        _ => Err(ClaimErrors(w.errors)),
    }
}

impl Walker {
    fn claim(&mut self, root: &Value) -> Option<ApgClaim> {
        let allowed = [
            "type",
            "claimant",
            "servicePeriod",
            "children",
            "activityBeforeService",
            "payment",
        ];
        let obj = self.object(String::new(), root, &allowed)?;
        if let Some(t) = self.required(&obj, "type")
            && t.as_str() != Some(APG_CLAIM_TYPE)
        {
            self.fail(obj.at("type"), "must be \"apg-claim\"");
        }
        let claimant = self.sub(&obj, "claimant", Walker::claimant);
        let service_period = self.sub(&obj, "servicePeriod", Walker::service_period);
        let children = self.children(&obj);
        let activity = self.sub(&obj, "activityBeforeService", Walker::activity);
        let payment = self.sub(&obj, "payment", Walker::payment);
        let claim = ApgClaim {
            claimant: claimant?,
            service_period: service_period?,
            children: children?,
            activity_before_service: activity?,
            payment: payment?,
        };
        self.cross_checks(&claim);
        Some(claim)
    }

    /// A required member read by `read` (which gets its value and pointer).
    fn sub<T>(
        &mut self,
        obj: &Obj<'_>,
        key: &str,
        read: impl FnOnce(&mut Walker, String, &Value) -> Option<T>,
    ) -> Option<T> {
        let v = self.required(obj, key)?;
        read(self, obj.at(key), v)
    }

    fn claimant(&mut self, pointer: String, v: &Value) -> Option<Claimant> {
        let allowed = [
            "vn",
            "officialName",
            "firstName",
            "sex",
            "dateOfBirth",
            "address",
            "language",
            "email",
        ];
        let obj = self.object(pointer, v, &allowed)?;
        let vn = self.parsed(&obj, "vn", Vn::parse);
        let official_name = self.text(&obj, "officialName", MAX_TEXT);
        let first_name = self.text(&obj, "firstName", MAX_TEXT);
        let sex = self.integer(&obj, "sex").and_then(|n| match n {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            3 => Some(Sex::Unknown),
            _ => {
                self.fail(obj.at("sex"), "must be 1 (male), 2 (female) or 3 (unknown)");
                None
            }
        });
        let date_of_birth = self.date(&obj, "dateOfBirth");
        let address = self.sub(&obj, "address", Walker::address);
        let language = self.parsed(&obj, "language", parse_language);
        let email = self
            .optional_text(&obj, "email", 254)
            .and_then(|e| match e {
                Some(e) if !plausible_email(&e) => {
                    self.fail(obj.at("email"), "must be an e-mail address local@domain");
                    Err(())
                }
                e => Ok(e),
            });
        Some(Claimant {
            vn: vn?,
            official_name: official_name?,
            first_name: first_name?,
            sex: sex?,
            date_of_birth: date_of_birth?,
            address: address?,
            language: language?,
            email: email.ok()?,
        })
    }

    fn address(&mut self, pointer: String, v: &Value) -> Option<Address> {
        let allowed = ["street", "postalCode", "town", "canton", "country"];
        let obj = self.object(pointer, v, &allowed)?;
        let street = self.text(&obj, "street", MAX_TEXT);
        let postal_code = self.text(&obj, "postalCode", 15);
        let town = self.text(&obj, "town", MAX_TEXT);
        let country = self.parsed(&obj, "country", |s| {
            (s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()))
                .then(|| s.to_owned())
                .ok_or("must be an ISO 3166 two-letter country code in upper case (CH)")
        });
        let canton = match obj.map.get("canton") {
            None | Some(Value::Null) => {
                if country.as_deref() == Some("CH") {
                    self.fail(
                        obj.at("canton"),
                        "is required for an address in Switzerland",
                    );
                    return None;
                }
                None
            }
            Some(_) if country.as_deref().is_some_and(|c| c != "CH") => {
                self.fail(
                    obj.at("canton"),
                    "is only given for an address in Switzerland",
                );
                return None;
            }
            Some(_) => Some(self.parsed(&obj, "canton", |s| {
                s.parse::<Canton>()
                    .map_err(|_| "must be a canton abbreviation (ZH, BE, … JU)")
            })?),
        };
        Some(Address {
            street: street?,
            postal_code: postal_code?,
            town: town?,
            canton,
            country: country?,
        })
    }

    fn service_period(&mut self, pointer: String, v: &Value) -> Option<ServicePeriod> {
        let allowed = [
            "serviceType",
            "startDate",
            "endDate",
            "numberOfDays",
            "referenceNumber",
        ];
        let obj = self.object(pointer, v, &allowed)?;
        let service_type = self.integer(&obj, "serviceType").and_then(|n| {
            ServiceType::new(n)
                .map_err(|e| self.fail(obj.at("serviceType"), e.to_string()))
                .ok()
        });
        let start_date = self.date(&obj, "startDate");
        let end_date = self.date(&obj, "endDate");
        let days = self.integer(&obj, "numberOfDays");
        let reference_number = self.optional_text(&obj, "referenceNumber", 50);
        let (start_date, end_date, days) = (start_date?, end_date?, days?);
        if end_date < start_date {
            self.fail(obj.at("endDate"), "must not be before startDate");
            return None;
        }
        let length = (end_date - start_date).whole_days() + 1;
        let number_of_days = match u16::try_from(days) {
            Ok(d) if d >= 1 && i64::from(d) <= length => d,
            _ => {
                self.fail(
                    obj.at("numberOfDays"),
                    format!("must be between 1 and the {length} days from startDate to endDate inclusive"),
                );
                return None;
            }
        };
        Some(ServicePeriod {
            service_type: service_type?,
            start_date,
            end_date,
            number_of_days,
            reference_number: reference_number.ok()?,
        })
    }

    /// `children`: optional, an array of at most [`MAX_CHILDREN`].
    fn children(&mut self, obj: &Obj<'_>) -> Option<Vec<Child>> {
        let pointer = obj.at("children");
        let items = match obj.map.get("children") {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.fail(pointer, "must be an array");
                return None;
            }
        };
        if items.len() > MAX_CHILDREN {
            self.fail(
                pointer,
                format!("must list at most {MAX_CHILDREN} children"),
            );
            return None;
        }
        let children: Vec<Option<Child>> = items
            .iter()
            .enumerate()
            .map(|(i, v)| self.child(format!("{pointer}/{i}"), v))
            .collect();
        children.into_iter().collect()
    }

    fn child(&mut self, pointer: String, v: &Value) -> Option<Child> {
        let obj = self.object(pointer, v, &["vn", "dateOfBirth"])?;
        let vn = self.parsed(&obj, "vn", Vn::parse);
        let date_of_birth = self.date(&obj, "dateOfBirth");
        Some(Child {
            vn: vn?,
            date_of_birth: date_of_birth?,
        })
    }

    fn activity(&mut self, pointer: String, v: &Value) -> Option<Activity> {
        let obj = self.object(pointer, v, &Activity::NAMES)?;
        let given: Vec<&str> = Activity::NAMES
            .into_iter()
            .filter(|k| obj.map.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        let [name] = given.as_slice() else {
            self.fail(
                obj.pointer.clone(),
                "must have exactly one of employee, selfEmployed, unemployed, student, notEmployed",
            );
            return None;
        };
        let value = obj.map.get(*name)?;
        if *name == "employee" {
            return self.employee(obj.at(name), value).map(Activity::Employee);
        }
        self.object(obj.at(name), value, &[])?;
        Some(match *name {
            "selfEmployed" => Activity::SelfEmployed,
            "unemployed" => Activity::Unemployed,
            "student" => Activity::Student,
            _ => Activity::NotEmployed,
        })
    }

    fn employee(&mut self, pointer: String, v: &Value) -> Option<Employee> {
        let allowed = ["employerName", "employerUid", "uid", "accountNumber"];
        let obj = self.object(pointer, v, &allowed)?;
        let employer_name = self.text(&obj, "employerName", MAX_TEXT);
        // `uid` is accepted as a short alias of the contract's `employerUid`.
        let uid_key = if obj.map.contains_key("employerUid") {
            "employerUid"
        } else {
            "uid"
        };
        let employer_uid = match obj.map.get(uid_key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.parsed(&obj, uid_key, Uid::parse).map(Some).ok_or(()),
        };
        if obj.map.contains_key("employerUid") && obj.map.contains_key("uid") {
            self.fail(obj.at("uid"), "give the UID once, as employerUid");
        }
        let account_number = self.optional_text(&obj, "accountNumber", 14);
        Some(Employee {
            employer_name: employer_name?,
            employer_uid: employer_uid.ok()?,
            account_number: account_number.ok()?,
        })
    }

    fn payment(&mut self, pointer: String, v: &Value) -> Option<Payment> {
        let obj = self.object(pointer, v, &["iban", "accountHolder"])?;
        let iban = self.parsed(&obj, "iban", Iban::parse);
        let account_holder = self.optional_text(&obj, "accountHolder", MAX_TEXT);
        Some(Payment {
            iban: iban?,
            account_holder: account_holder.ok()?,
        })
    }

    /// Rules across members, checked once each member is valid on its own.
    fn cross_checks(&mut self, c: &ApgClaim) {
        if c.claimant.date_of_birth >= c.service_period.start_date {
            self.fail(
                "/claimant/dateOfBirth".into(),
                "must be before the service period's startDate",
            );
        }
        for (i, child) in c.children.iter().enumerate() {
            if child.vn == c.claimant.vn {
                self.fail(
                    format!("/children/{i}/vn"),
                    "must not be the claimant's own AHV number",
                );
            }
            if child.date_of_birth > c.service_period.end_date {
                self.fail(
                    format!("/children/{i}/dateOfBirth"),
                    "must not be after the service period's endDate",
                );
            }
            if child.date_of_birth <= c.claimant.date_of_birth {
                self.fail(
                    format!("/children/{i}/dateOfBirth"),
                    "must be after the claimant's dateOfBirth",
                );
            }
            if c.children[..i].iter().any(|o| o.vn == child.vn) {
                self.fail(format!("/children/{i}/vn"), "lists the same child twice");
            }
        }
    }
}

fn parse_language(s: &str) -> Result<Language, &'static str> {
    match s {
        "de" => Ok(Language::De),
        "fr" => Ok(Language::Fr),
        "it" => Ok(Language::It),
        "rm" => Ok(Language::Rm),
        "en" => Ok(Language::En),
        _ => Err("must be one of de, fr, it, rm, en"),
    }
}

/// One `@`, a non-empty local part, a domain with a dot, no spaces.
fn plausible_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
