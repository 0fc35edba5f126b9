//! The canonical fields a record can fill: name in mapping files, record kind, whether
//! required, and the wire formats each accepts (the first is the default).

use super::{Format, RecordKind, Slot};

pub(super) struct SlotDef {
    pub name: &'static str,
    pub slot: Slot,
    pub kind: RecordKind,
    pub required: bool,
    pub formats: &'static [(&'static str, Format)],
}

pub(super) const SLOTS: &[SlotDef] = &[
    SlotDef {
        name: "accountNumber",
        slot: Slot::AccountNumber,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("text", Format::Text(14))],
    },
    SlotDef {
        name: "incomeCode",
        slot: Slot::IncomeCode,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("two-digits", Format::TwoDigits)],
    },
    SlotDef {
        name: "careCreditFraction",
        slot: Slot::CareCreditFraction,
        kind: RecordKind::Entry,
        required: false,
        formats: &[("integer", Format::Integer)],
    },
    SlotDef {
        name: "monthFrom",
        slot: Slot::MonthFrom,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("integer", Format::Integer), ("gMonth", Format::GMonth)],
    },
    SlotDef {
        name: "monthTo",
        slot: Slot::MonthTo,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("integer", Format::Integer), ("gMonth", Format::GMonth)],
    },
    SlotDef {
        name: "year",
        slot: Slot::Year,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("integer", Format::Integer), ("gYear", Format::GYear)],
    },
    SlotDef {
        name: "income",
        slot: Slot::Income,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("decimal2", Format::Decimal2)],
    },
    SlotDef {
        name: "employer",
        slot: Slot::Employer,
        kind: RecordKind::Entry,
        required: false,
        formats: &[("text", Format::Text(200))],
    },
    SlotDef {
        name: "bookingDate",
        slot: Slot::BookingDate,
        kind: RecordKind::Entry,
        required: false,
        formats: &[("date", Format::Date)],
    },
    SlotDef {
        name: "decisionNumber",
        slot: Slot::DecisionNumber,
        kind: RecordKind::Case,
        required: true,
        formats: &[("digits14", Format::Digits14)],
    },
    SlotDef {
        name: "benefit",
        slot: Slot::Benefit,
        kind: RecordKind::Case,
        required: true,
        formats: &[("code", Format::Code)],
    },
    SlotDef {
        name: "status",
        slot: Slot::Status,
        kind: RecordKind::Case,
        required: true,
        formats: &[("code", Format::Code)],
    },
    SlotDef {
        name: "degree",
        slot: Slot::Degree,
        kind: RecordKind::Case,
        required: false,
        formats: &[("integer", Format::Integer)],
    },
    SlotDef {
        name: "validFrom",
        slot: Slot::ValidFrom,
        kind: RecordKind::Case,
        required: false,
        formats: &[("date", Format::Date)],
    },
    SlotDef {
        name: "validTo",
        slot: Slot::ValidTo,
        kind: RecordKind::Case,
        required: false,
        formats: &[("date", Format::Date)],
    },
];
