//! Exact match, sub-string exact match and token F1 of one prediction against its golden
//! answers, following FlashRAG's `ExactMatch`, `Sub_ExactMatch` and `F1_Score`.

use std::collections::HashMap;

use serde::Serialize;

use super::normalize::normalize_answer;
use super::pattern::AnswerPattern;

/// EM and F1 of one prediction (each in `[0, 1]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AnswerScore {
    /// Exact match after normalisation (regex full match for CuratedTREC).
    pub em: f64,
    /// Token-level F1, the maximum over the golden answers.
    pub f1: f64,
}

/// EM: 1 if the normalised prediction equals some normalised golden answer; for regex answers
/// (CuratedTREC), 1 if some pattern matches the *whole* normalised prediction, ignoring case.
pub fn exact_match(prediction: &str, answers: &[AnswerPattern]) -> f64 {
    let prediction = normalize_answer(prediction);
    let hit = answers.iter().any(|answer| match answer {
        AnswerPattern::Text(text) => normalize_answer(text) == prediction,
        AnswerPattern::Regex(regex) => regex.full_match(&prediction),
    });
    if hit { 1.0 } else { 0.0 }
}

/// Sub-EM (FlashRAG's `acc`): 1 if some normalised golden answer occurs inside the normalised
/// prediction; for regex answers, if some pattern matches anywhere in it.
pub fn sub_exact_match(prediction: &str, answers: &[AnswerPattern]) -> f64 {
    let prediction = normalize_answer(prediction);
    let hit = answers.iter().any(|answer| match answer {
        AnswerPattern::Text(text) => prediction.contains(&normalize_answer(text)),
        AnswerPattern::Regex(regex) => regex.search(&prediction),
    });
    if hit { 1.0 } else { 0.0 }
}

/// The three words FlashRAG's F1 only credits when matched exactly.
const SPECIAL: [&str; 3] = ["yes", "no", "noanswer"];

/// Token F1, the maximum over golden answers, as FlashRAG's `token_level_scores`: answers are
/// compared as normalised text (regex answers by their pattern text, as FlashRAG does); if
/// either side normalises to yes/no/noanswer the pair scores only when both are equal.
pub fn token_f1(prediction: &str, answers: &[AnswerPattern]) -> f64 {
    let prediction = normalize_answer(prediction);
    let prediction_tokens: Vec<&str> = prediction.split(' ').filter(|t| !t.is_empty()).collect();
    let mut best: f64 = 0.0;
    for answer in answers {
        let truth = normalize_answer(answer.text());
        let special = SPECIAL.contains(&prediction.as_str()) || SPECIAL.contains(&truth.as_str());
        if special && prediction != truth {
            continue;
        }
        let truth_tokens: Vec<&str> = truth.split(' ').filter(|t| !t.is_empty()).collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for token in &truth_tokens {
            *counts.entry(token).or_default() += 1;
        }
        let mut same = 0usize;
        for token in &prediction_tokens {
            if let Some(count) = counts.get_mut(token)
                && *count > 0
            {
                *count -= 1;
                same += 1;
            }
        }
        if same == 0 {
            continue;
        }
        let precision = same as f64 / prediction_tokens.len() as f64;
        let recall = same as f64 / truth_tokens.len() as f64;
        best = best.max(2.0 * precision * recall / (precision + recall));
    }
    best
}

/// EM and F1 together.
pub fn score(prediction: &str, answers: &[AnswerPattern]) -> AnswerScore {
    AnswerScore {
        em: exact_match(prediction, answers),
        f1: token_f1(prediction, answers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(answers: &[&str]) -> Vec<AnswerPattern> {
        AnswerPattern::texts(answers)
    }

    #[test]
    fn em_is_max_over_golden_answers() {
        let answers = texts(&["Denver Broncos", "Broncos"]);
        assert_eq!(exact_match("the Broncos.", &answers), 1.0);
        assert_eq!(exact_match("Denver", &answers), 0.0);
    }

    #[test]
    fn em_unicode_and_articles_inside_names() {
        assert_eq!(
            exact_match(
                "wilhelm conrad RÖNTGEN",
                &texts(&["Wilhelm Conrad Röntgen"])
            ),
            1.0
        );
        // Without the umlaut it is a different string (no accent folding in SQuAD).
        assert_eq!(
            exact_match(
                "Wilhelm Conrad Rontgen",
                &texts(&["Wilhelm Conrad Röntgen"])
            ),
            0.0
        );
        assert_eq!(exact_match("The Hague", &texts(&["Hague"])), 1.0);
        assert_eq!(exact_match("Anaheim", &texts(&["Aheim"])), 0.0);
    }

    #[test]
    fn em_punctuation_inside_numbers() {
        assert_eq!(exact_match("1,000", &texts(&["1000"])), 1.0);
        assert_eq!(exact_match("1.000", &texts(&["1000"])), 1.0);
        assert_eq!(exact_match("1 000", &texts(&["1000"])), 0.0);
    }

    #[test]
    fn empty_prediction_scores_zero_unless_answer_normalises_to_empty() {
        assert_eq!(
            score("", &texts(&["Paris"])),
            AnswerScore { em: 0.0, f1: 0.0 }
        );
        // An answer made only of an article normalises to "" and matches "" exactly (EM),
        // while F1 has no common token.
        assert_eq!(
            score("", &texts(&["The"])),
            AnswerScore { em: 1.0, f1: 0.0 }
        );
        assert_eq!(score("x", &[]), AnswerScore { em: 0.0, f1: 0.0 });
    }

    #[test]
    fn f1_counts_common_tokens_with_multiplicity() {
        // prediction "paris paris france" vs "paris": common 1, p = 1/3, r = 1, f1 = 0.5.
        let f1 = token_f1("Paris, Paris, France", &texts(&["Paris"]));
        assert!((f1 - 0.5).abs() < 1e-12, "{f1}");
        // Best over answers.
        let f1 = token_f1("New York City", &texts(&["York", "New York City"]));
        assert!((f1 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn f1_yes_no_only_exact() {
        assert_eq!(token_f1("yes", &texts(&["yes it is"])), 0.0);
        assert_eq!(token_f1("yes it is", &texts(&["yes"])), 0.0);
        assert_eq!(token_f1("Yes.", &texts(&["yes"])), 1.0);
    }

    #[test]
    fn sub_em_finds_answer_inside_prediction() {
        assert_eq!(
            sub_exact_match("It was Paris, France.", &texts(&["paris"])),
            1.0
        );
        assert_eq!(sub_exact_match("Lyon", &texts(&["paris"])), 0.0);
    }

    #[test]
    fn regex_answers_full_match_ignoring_case() {
        let answers = vec![AnswerPattern::regex("After the Fall|Finishing the Play").unwrap()];
        // Normalisation removes "the": the pattern with "the" no longer matches the prediction.
        assert_eq!(exact_match("After the Fall", &answers), 0.0);
        let answers = vec![AnswerPattern::regex(r"20\s?,?\s?(32|40)0\s?-?\s?f(ee|oo)t").unwrap()];
        assert_eq!(exact_match("20,320 feet", &answers), 1.0);
        assert_eq!(exact_match("about 20,320 feet", &answers), 0.0);
        assert_eq!(sub_exact_match("about 20,320 FEET", &answers), 1.0);
    }
}
