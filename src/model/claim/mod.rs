//! The loss-of-earnings claim (EO/APG) as the portal sends it: the validated `ApgClaim`,
//! its canonical JSON (stable field order) and that JSON's SHA-256, which receipts sign.
//! Parsing with every error as a JSON pointer lives in `parse.rs`; no XML, no HTTP here.

mod ids;
mod parse;
mod walker;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::{Canton, Date, OfficeId, Vn};

pub use ids::{Iban, IbanError, ServiceKind, ServiceType, ServiceTypeError, Uid, UidError};
pub use parse::{ClaimErrors, FieldError};

/// The value of the `type` member of a claim.
pub const APG_CLAIM_TYPE: &str = "apg-claim";

/// A complete, valid EO/APG claim. Every field of the contract's `apg-claim.xml` content
/// except `routing`, which the gateway decides ([`ClaimRouting`]).
///
/// Invariant: built only by [`ApgClaim::from_json`] (or from parts that each passed their
/// own parser), so the cross-field rules hold: days within the period, the claimant born
/// before the service, a canton for a Swiss address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApgClaim {
    /// The person claiming the allowance.
    pub claimant: Claimant,
    /// The service the allowance is claimed for.
    pub service_period: ServicePeriod,
    /// Children (for the child allowance), possibly none.
    pub children: Vec<Child>,
    /// What the person did before the service: decides the competent fund.
    pub activity_before_service: Activity,
    /// Where the allowance is paid.
    pub payment: Payment,
}

/// The claimant (eCH-0044 person with address, language and e-mail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Claimant {
    /// AHV number.
    #[serde(serialize_with = "ser_vn")]
    pub vn: Vn,
    /// Official name (surname).
    pub official_name: String,
    /// First name.
    pub first_name: String,
    /// eCH-0044 sex code.
    pub sex: Sex,
    /// Date of birth.
    #[serde(serialize_with = "ser_date")]
    pub date_of_birth: Date,
    /// Residence address.
    pub address: Address,
    /// Language of correspondence.
    pub language: Language,
    /// E-mail address, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// eCH-0044 sex: 1 male, 2 female, 3 unknown (serialized as the number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sex {
    /// 1.
    Male,
    /// 2.
    Female,
    /// 3.
    Unknown,
}

impl Sex {
    /// The eCH-0044 code.
    pub fn code(self) -> u8 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::Unknown => 3,
        }
    }
}

impl Serialize for Sex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

/// Language of correspondence (eCH-0011 codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// German.
    De,
    /// French.
    Fr,
    /// Italian.
    It,
    /// Romansh.
    Rm,
    /// English.
    En,
}

impl Language {
    /// The two-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Language::De => "de",
            Language::Fr => "fr",
            Language::It => "it",
            Language::Rm => "rm",
            Language::En => "en",
        }
    }
}

/// The claimant's residence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Street and number.
    pub street: String,
    /// Postal code.
    pub postal_code: String,
    /// Town.
    pub town: String,
    /// Canton of residence: present exactly when the country is `CH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canton: Option<Canton>,
    /// ISO 3166-1 alpha-2 country code, upper case.
    pub country: String,
}

impl Address {
    /// Whether the claimant lives outside Switzerland (routing rule 1).
    pub fn is_abroad(&self) -> bool {
        self.country != "CH"
    }
}

/// The service period as the service organisation reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePeriod {
    /// Service type code.
    #[serde(serialize_with = "ser_service_type")]
    pub service_type: ServiceType,
    /// First day of service.
    #[serde(serialize_with = "ser_date")]
    pub start_date: Date,
    /// Last day of service (≥ `start_date`).
    #[serde(serialize_with = "ser_date")]
    pub end_date: Date,
    /// Days of service claimed: 1 ≤ days ≤ the days from start to end inclusive.
    pub number_of_days: u16,
    /// The service organisation's reference, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
}

impl ServicePeriod {
    /// Days from start to end, both inclusive.
    pub fn length_days(&self) -> i64 {
        (self.end_date - self.start_date).whole_days() + 1
    }
}

/// A child of the claimant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Child {
    /// AHV number.
    #[serde(serialize_with = "ser_vn")]
    pub vn: Vn,
    /// Date of birth.
    #[serde(serialize_with = "ser_date")]
    pub date_of_birth: Date,
}

/// Activity before the service: exactly one of five.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Employed: the employer's fund is competent.
    Employee(Employee),
    /// Self-employed.
    SelfEmployed,
    /// Unemployed.
    Unemployed,
    /// In education.
    Student,
    /// Not gainfully employed.
    NotEmployed,
}

impl Activity {
    /// The JSON member name, also used in rule conditions (`activity = "employee"`).
    pub fn name(&self) -> &'static str {
        match self {
            Activity::Employee(_) => "employee",
            Activity::SelfEmployed => "selfEmployed",
            Activity::Unemployed => "unemployed",
            Activity::Student => "student",
            Activity::NotEmployed => "notEmployed",
        }
    }

    /// Every member name, in the contract's order.
    pub const NAMES: [&'static str; 5] = [
        "employee",
        "selfEmployed",
        "unemployed",
        "student",
        "notEmployed",
    ];
}

impl Serialize for Activity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// `{}` for the activities without details.
        struct Empty;
        impl Serialize for Empty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_map(Some(0))?.end()
            }
        }
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Activity::Employee(e) => m.serialize_entry("employee", e)?,
            other => m.serialize_entry(other.name(), &Empty)?,
        }
        m.end()
    }
}

/// The employer of an employed claimant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Employee {
    /// Employer's name.
    pub employer_name: String,
    /// Employer's UID, when given.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_display"
    )]
    pub employer_uid: Option<Uid>,
    /// The employer's account number at its fund, when given (≤ 14 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
}

/// Where the allowance is paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// CH/LI IBAN.
    #[serde(serialize_with = "ser_iban")]
    pub iban: Iban,
    /// Account holder, when not the claimant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_holder: Option<String>,
}

/// Why the claim went to its fund: the `routing` element of the XML claim and a field of
/// the receipt. Produced by `crate::routing` (`Decision::routing`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRouting {
    /// Id of the rule that fired (`employee-current-affiliation`).
    pub rule: String,
    /// The fund the claim is sent to.
    pub competent_office: OfficeId,
}

impl ApgClaim {
    /// Parses and validates a claim from its JSON body; on failure every error, each with
    /// its JSON pointer (RFC 6901). Messages never repeat an AHV number or an IBAN.
    pub fn from_json(body: &[u8]) -> Result<ApgClaim, ClaimErrors> {
        parse::claim(body)
    }

    /// The canonical JSON: compact, members in the contract's order (`type` first),
    /// optional members absent when not given, strings trimmed, identifiers in machine
    /// form. Parsing it gives the same claim; it is what is stored and what receipts hash.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and numbers into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// SHA-256 of [`ApgClaim::canonical_json`], lower-case hex (the receipts' `sha256`).
    pub fn sha256_hex(&self) -> String {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.canonical_json());
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Serialize for ApgClaim {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ApgClaim", 6)?;
        st.serialize_field("type", APG_CLAIM_TYPE)?;
        st.serialize_field("claimant", &self.claimant)?;
        st.serialize_field("servicePeriod", &self.service_period)?;
        st.serialize_field("children", &self.children)?;
        st.serialize_field("activityBeforeService", &self.activity_before_service)?;
        st.serialize_field("payment", &self.payment)?;
        st.end()
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn format_date(d: &Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn ser_date<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_date(d))
}

fn ser_vn<S: Serializer>(vn: &Vn, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&vn.digits())
}

fn ser_iban<S: Serializer>(iban: &Iban, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(iban.as_str())
}

fn ser_service_type<S: Serializer>(t: &ServiceType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(t.code())
}

fn ser_opt_display<S: Serializer, T: std::fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests;
