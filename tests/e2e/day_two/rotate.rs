//! `rotate`: one new secret version per managed secret, someone else's secret of the same name
//! listed and left alone, and a re-run with the same token writes nothing.

use super::*;

fn secret_of(emu: &Emulator, account: &str, region: &str) -> Value {
    emu.secrets()
        .into_iter()
        .find(|s| s["account"] == account && s["region"] == region && s["name"] == SECRET)
        .expect("secret")
}

fn puts_by_target(emu: &Emulator) -> HashMap<(String, String), usize> {
    let mut n = HashMap::new();
    for c in emu
        .calls()
        .into_iter()
        .filter(|c| c["action"] == "PutSecretValue")
    {
        *n.entry((
            c["account"].as_str().unwrap().to_owned(),
            c["region"].as_str().unwrap().to_owned(),
        ))
        .or_default() += 1;
    }
    n
}

#[test]
fn rotate_writes_one_version_per_managed_secret_and_a_rerun_writes_nothing() {
    let (emu, org) = Emulator::with_org();
    let dev = org.id("dev");
    // dev/eu-west-1 holds someone else's secret of that name: rotate must list it, not touch it.
    emu.mutate(
        json!({"op": "create_secret", "account": dev, "region": "eu-west-1", "name": SECRET,
        "value": {"username": "theirs", "accessToken": TOKEN}}),
    );
    let cfg = config(&emu, "token_expires_on = \"2027-06-30\"", "");
    apply(&emu, &cfg);
    emu.set_valid_tokens(&[TOKEN, NEW_TOKEN]);
    emu.reset_calls();
    let report = emu.path("rotate.csv");
    let out = run(emu
        .cmd()
        .args(["rotate", "--yes", "--config"])
        .arg(&cfg)
        .arg("--report")
        .arg(&report)
        .env("GITLAB_REGISTRY_TOKEN", NEW_TOKEN));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("unmanaged: {dev} eu-west-1")),
        "{}",
        out.stderr
    );
    let puts = puts_by_target(&emu);
    assert_eq!(puts.len(), 7, "one write per managed secret: {puts:?}");
    assert!(puts.values().all(|n| *n == 1));
    assert!(!puts.contains_key(&(dev.clone(), "eu-west-1".to_owned())));
    for account in org.active() {
        for region in ["eu-west-1", "us-east-1"] {
            let s = secret_of(&emu, &account, region);
            let value = s["value"].as_str().unwrap();
            if account == dev && region == "eu-west-1" {
                assert!(value.contains("theirs"), "unmanaged secret untouched");
            } else {
                assert!(value.contains(NEW_TOKEN), "{account} {region}");
                assert_eq!(s["tags"]["token-expires-on"], "2027-06-30");
            }
        }
    }
    let rows = read_report(&report);
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "updated").count(), 7);
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "skipped").count(), 1);

    emu.reset_calls();
    let again = run(emu
        .cmd()
        .args(["rotate", "--yes", "--config"])
        .arg(&cfg)
        .env("GITLAB_REGISTRY_TOKEN", NEW_TOKEN));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        emu.mutating_calls(),
        Vec::<String>::new(),
        "the same token again writes nothing"
    );
}
