//! The mechanism study's prompts on the real tokenizers: every demonstration block of the
//! in-context prompt is token-identical to the example the gradient step's loss reads, and the
//! block-wise token ids equal the joint tokenisation of the chat-template text.

use burn::tensor::Device;
use icor_llm::{LoadedModel, load_model};
use icor_qa::data::Passage;
use icor_rag::experiment::prompt::Item;
use icor_rag::mechanism::segments::{BlockBuilder, examples, shifted_answers};

fn item(q: &str, a: &str, title: &str, doc: &str) -> Item {
    Item {
        id: q.into(),
        question: q.into(),
        answers: vec![a.into()],
        docs: vec![
            Passage::from_title_text("0".into(), title, doc),
            Passage::from_title_text(
                "1".into(),
                "Second",
                "Another passage, with digits 1901 and more words.",
            ),
        ],
    }
}

fn check(model: &str) {
    let LoadedModel { tokenizer, .. } =
        load_model(model, &Device::flex()).expect("model loads (run `icor fetch`)");
    let b = BlockBuilder::new(&tokenizer, 12);
    let query = item(
        "who discovered x-rays?",
        "Wilhelm Röntgen",
        "X-ray",
        "X-rays were discovered in 1895 by Röntgen.",
    );
    let demos = vec![
        item(
            "capital of france?",
            "Paris",
            "France",
            "Paris is the capital and largest city of France.",
        ),
        item(
            "when was the first nobel prize?",
            "1901",
            "Nobel Prize",
            "The first Nobel Prizes were awarded in 1901.",
        ),
        item(
            "who wrote hamlet?",
            "William Shakespeare",
            "Hamlet",
            "Hamlet is a tragedy written by William Shakespeare.",
        ),
    ];
    let answers = ["Paris", "1901", "William Shakespeare"];
    for answers in [answers.to_vec(), shifted_answers(&answers)] {
        let seg = b
            .segments(&query, "Wilhelm Röntgen", &demos, &answers)
            .unwrap();
        let icl = seg.in_context(&[0, 1, 2]);
        // The joint tokenisation of the template's text is the block-wise one.
        let text = b.text(&query, &demos, &answers).unwrap();
        let mut joint = tokenizer.encode(&text).unwrap();
        joint.extend(&seg.query.answer);
        assert_eq!(
            icl.ids, joint,
            "{model}: block-wise ids differ from the joint tokenisation"
        );
        // Each demonstration block sits in the prompt exactly as its loss example reads it.
        let ex = seg.gd_examples();
        let mut at = seg.prefix.len();
        for (i, e) in ex.iter().enumerate() {
            assert_eq!(&e.prompt[..seg.prefix.len()], &seg.prefix[..]);
            let block = [&e.prompt[seg.prefix.len()..], &e.answer[..]].concat();
            assert_eq!(
                &icl.ids[at..at + block.len()],
                &block[..],
                "{model}: block {i}"
            );
            at += block.len() + seg.demos[i].close.len();
        }
        // What follows the last block is the query alone's suffix; the answer is teacher-forced.
        let alone = seg.query_alone();
        assert_eq!(&icl.ids[at..], &alone.ids[seg.prefix.len()..]);
        assert_eq!(icl.ids.len() - icl.first, alone.ids.len() - alone.first);
        assert_eq!(ex, examples(&seg.prefix, &seg.demos));
        let decoded = tokenizer.decode(&ex[1].answer, false).unwrap();
        assert!(
            decoded.starts_with(answers[1]),
            "{model}: answer block decodes to {decoded:?}"
        );
    }
}

#[test]
fn demonstration_blocks_are_token_identical_to_the_step_examples_smollm2() {
    check("smollm2-135m");
}

#[test]
#[ignore = "loads Qwen2.5-0.5B (500 MB); run with --ignored"]
fn demonstration_blocks_are_token_identical_to_the_step_examples_qwen() {
    check("qwen2.5-0.5b");
}
