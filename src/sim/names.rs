//! Name tables of the synthetic population: persons, employers, cantons by population.
//! Some names carry Latin-1 letters (é, ü, ô), a few characters beyond Latin-1 (ř, Œ)
//! and `&`, so every dialect's escaping and encoding is exercised.

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::model::{CANTONS, Canton};

/// Family names.
const SURNAMES: &[&str] = &[
    "Müller",
    "Meier",
    "Schmid",
    "Keller",
    "Weber",
    "Huber",
    "Schneider",
    "Meyer",
    "Steiner",
    "Fischer",
    "Gerber",
    "Brunner",
    "Baumann",
    "Frei",
    "Zimmermann",
    "Moser",
    "Widmer",
    "Wyss",
    "Graf",
    "Roth",
    "Bühler",
    "Nägeli",
    "Zürcher",
    "Häfliger",
    "Favre",
    "Rochat",
    "Dupont",
    "Gérard",
    "Châtelain",
    "Perrin",
    "Bonvin",
    "Clément",
    "Rossi",
    "Bernasconi",
    "Ferrari",
    "Lüthi",
    "Dvořák",
    "Sánchez",
    "Berisha",
    "da Silva",
    "Kälin",
    "Jöhr",
];

/// First names with their eCH-0044 sex code (1 male, 2 female).
const FIRST_NAMES: &[(&str, u8)] = &[
    ("Claire", 2),
    ("Anaïs", 2),
    ("Zoë", 2),
    ("Hélène", 2),
    ("Léa", 2),
    ("Sophie", 2),
    ("Anna", 2),
    ("Laura", 2),
    ("Jürgen", 1),
    ("Jürg", 1),
    ("Lukas", 1),
    ("François", 1),
    ("Noël", 1),
    ("Daniel", 1),
    ("Marco", 1),
    ("Thomas", 1),
    ("Miloš", 1),
    ("Björn", 1),
    ("Céline", 2),
    ("Chiara", 2),
    ("Rahel", 2),
    ("Urs", 1),
    ("Beat", 1),
    ("Jérôme", 1),
];

/// Employers (plain text, escaped when rendered).
const EMPLOYERS: &[&str] = &[
    "Horlogerie Léman SA",
    "Constructions Rhône Sàrl",
    "Müller & Söhne AG",
    "Bäckerei Zürcher GmbH",
    "Boulangerie du Château",
    "Garage Côte & Fils SA",
    "Hôpital cantonal",
    "Coop Genossenschaft",
    "Migros-Genossenschafts-Bund",
    "Schweizerische Bundesbahnen SBB",
    "Banque Cantonale Vaudoise",
    "Zürcher Kantonalbank",
    "Ristorante Bellavista Sagl",
    "Pâtisserie Gübeli & Cie",
    "Électricité Romande SA",
    "Spitex Züriberg",
    "Informatique Fribourg Sàrl",
    "Brasserie Öchslin AG",
    "Transports publics genevois",
    "Étude Dvořák & Associés",
    "Œuvre d'entraide ouvrière",
    "Schreinerei Hürlimann",
    "Kühne + Nagel AG",
    "Hôtel Beau-Rivage SA",
    "Elektro Blöchlinger AG",
    "Clinique La Source",
    "Grotto Da Ugo Sagl",
    "Fromagerie Gruyère & Fils",
    "Zuger Kantonsspital AG",
    "Imprimerie Saint-Paul SA",
];

/// Business names of self-employed persons: prefix + family name.
const TRADES: &[&str] = &[
    "Atelier",
    "Cabinet",
    "Praxis Dr.",
    "Treuhand",
    "Schreinerei",
    "Bureau d'études",
];

/// Payers of daily allowances (genre 2) during employment: loss of earnings (EO/APG).
const EO_PAYERS: &[&str] = &["Indemnités APG", "EO-Entschädigung", "Indennità IPG"];

/// Payers of unemployment daily allowances (genre 2).
const ALV_PAYERS: &[&str] = &[
    "Caisse de chômage UNIA",
    "Arbeitslosenkasse Kanton Zürich",
    "Cassa disoccupazione OCST",
];

/// Resident population per canton in thousands, in the order of [`CANTONS`].
const CANTON_WEIGHTS: [u32; 26] = [
    1600, 1050, 420, 37, 165, 39, 44, 41, 130, 330, 280, 200, 295, 85, 56, 16, 520, 200, 710, 290,
    355, 830, 355, 177, 515, 74,
];

/// A family name and a first name.
pub(crate) fn person_name(rng: &mut impl Rng) -> (String, String) {
    let surname = SURNAMES.choose(rng).copied().unwrap_or("Muster");
    let first = FIRST_NAMES.choose(rng).map_or("Alex", |(n, _)| *n);
    (surname.to_owned(), first.to_owned())
}

/// The eCH-0044 sex code of a first name of the table (3 = unknown).
pub(crate) fn sex_of(first_name: &str) -> u8 {
    FIRST_NAMES
        .iter()
        .find(|(n, _)| *n == first_name)
        .map_or(3, |(_, s)| *s)
}

/// An employer.
pub(crate) fn employer(rng: &mut impl Rng) -> String {
    EMPLOYERS
        .choose(rng)
        .copied()
        .unwrap_or("Muster AG")
        .to_owned()
}

/// The business name of a self-employed person.
pub(crate) fn own_business(rng: &mut impl Rng, surname: &str) -> String {
    let trade = TRADES.choose(rng).copied().unwrap_or("Atelier");
    format!("{trade} {surname}")
}

/// A payer of daily allowances: unemployment insurance, or loss of earnings (EO/APG).
pub(crate) fn allowance_payer(rng: &mut impl Rng, unemployment: bool) -> String {
    let list = if unemployment { ALV_PAYERS } else { EO_PAYERS };
    list.choose(rng).copied().unwrap_or("EO").to_owned()
}

/// A canton of residence, drawn by population.
pub(crate) fn canton(rng: &mut impl Rng) -> Canton {
    let total: u32 = CANTON_WEIGHTS.iter().sum();
    let mut draw = rng.random_range(0..total);
    let mut index = 0;
    for (i, w) in CANTON_WEIGHTS.iter().enumerate() {
        if draw < *w {
            index = i;
            break;
        }
        draw -= w;
    }
    CANTONS[index]
        .parse()
        .expect("every entry of CANTONS is a canton")
}
