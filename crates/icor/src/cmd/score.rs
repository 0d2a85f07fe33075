//! `icor score --prediction P --answer A [--answer B …] [--regex] [--json]`: EM and F1 of one
//! prediction, exactly as the evaluation computes them (FlashRAG's SQuAD normalisation), so a
//! case can be checked by hand.

use std::process::ExitCode;

use icor_qa::metrics::{AnswerPattern, normalize_answer, score, sub_exact_match};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model's answer.
    #[arg(long)]
    prediction: String,
    /// A golden answer (repeat for several; the best one counts).
    #[arg(long = "answer", value_name = "A", required = true)]
    answers: Vec<String>,
    /// Golden answers are regular expressions (CuratedTREC).
    #[arg(long)]
    regex: bool,
    /// Print `{"em": …, "f1": …}` only.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let answers = AnswerPattern::all(&args.answers, args.regex)?;
    let result = score(&args.prediction, &answers);
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "prediction  {:?} → {:?}",
            args.prediction,
            normalize_answer(&args.prediction)
        );
        for answer in &args.answers {
            if args.regex {
                println!("answer      /{answer}/ (regex, case-insensitive)");
            } else {
                println!("answer      {answer:?} → {:?}", normalize_answer(answer));
            }
        }
        println!("em          {}", result.em);
        println!("f1          {:.4}", result.f1);
        println!(
            "sub-em      {}",
            sub_exact_match(&args.prediction, &answers)
        );
    }
    Ok(ExitCode::SUCCESS)
}
