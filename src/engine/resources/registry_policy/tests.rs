use super::*;

const FOREIGN: &str = r#"{ "Sid" : "Replication",  "Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"}"#;

#[test]
fn other_statements_are_kept_byte_for_byte() {
    let text = format!("{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [ {FOREIGN} ]\n}}");
    let mut doc = Document::parse(&text).unwrap();
    assert!(doc.ours().is_none());
    let ours = json!({"Sid": SID, "Effect": "Allow"});
    doc.put(&ours);
    let written = doc.text();
    assert!(written.contains(FOREIGN), "{written}");
    let back = Document::parse(&written).unwrap();
    assert_eq!(back.ours(), Some(ours.clone()));
    // Replaced in place, then removed: the foreign statement is untouched throughout.
    let mut doc = back;
    doc.put(&json!({"Sid": SID, "Effect": "Deny"}));
    assert_eq!(doc.statements.len(), 2);
    // A copy of ours is folded into one.
    doc.statements
        .push(RawValue::from_string(json!({"Sid": SID}).to_string()).unwrap());
    doc.put(&json!({"Sid": SID, "Effect": "Deny"}));
    assert_eq!(doc.statements.len(), 2);
    assert!(doc.holds(&json!({"Sid": SID, "Effect": "Deny"})));
    assert!(doc.remove());
    assert!(!doc.is_empty());
    assert!(doc.text().contains(FOREIGN));
    assert_eq!(
        serde_json::from_str::<Value>(&doc.text()).unwrap(),
        serde_json::from_str::<Value>(&text).unwrap()
    );
}

#[test]
fn statements_are_compared_as_iam_reads_them() {
    let want = json!({"Sid": SID, "Principal": {"AWS": "*"}, "Action": ["b", "a"],
        "Condition": {"StringEquals": {"aws:PrincipalAccount": "1"}, "ArnLike": {"aws:PrincipalArn": ["x"]}}});
    let rewritten = json!({"Sid": SID, "Principal": "*", "Action": ["a", "b"],
        "Condition": {"stringEquals": {"aws:principalaccount": ["1"]}, "ArnLike": {"aws:PrincipalArn": "x"}}});
    assert!(same(&want, &rewritten));
    assert!(!same(
        &want,
        &json!({"Sid": SID, "Principal": "*", "Action": ["a"]})
    ));
}

#[test]
fn a_single_statement_object_and_a_new_document_are_understood() {
    let doc = Document::parse(&format!(
        "{{\"Statement\": {FOREIGN}, \"Version\": \"2012-10-17\"}}"
    ))
    .unwrap();
    assert_eq!(doc.statements.len(), 1);
    assert!(doc.text().contains(FOREIGN));
    let new = Document::new_with(&json!({"Sid": SID}));
    let v: Value = serde_json::from_str(&new.text()).unwrap();
    assert_eq!(v["Version"], "2012-10-17");
    assert_eq!(v["Statement"][0]["Sid"], SID);
    assert!(Document::parse("[1]").is_err());
}
