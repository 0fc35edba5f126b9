//! Simulated offices send decisions themselves (`guichet simulate --decisions-to URL`,
//! [`guichet::sim::decisions::send_many`]): each office posts with its own client
//! certificate of the development PKI through the gateway's `POST /v1/messages`, the
//! persons find the decision in their list, and a second run sends nothing new (stable
//! idempotency keys: the gateway answers with the message it holds).

mod common;
mod messages_support;

use common::{Federation, Options};
use guichet::model::Vn;
use guichet::sim::decisions::{Sent, send_many};
use messages_support::{MESSAGES, json_of, read};

const PERSONS: u32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_offices_send_decisions_once() {
    let mut fed = Federation::build(
        Options {
            extra: MESSAGES,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    messages_support::migrated(&fed).await;
    let gateway = fed.url("");
    let offices: Vec<String> = fed.pki.offices.keys().cloned().collect();

    let first = send_many(&fed.pki, &gateway, PERSONS).await;
    assert_eq!(
        first,
        Sent {
            sent: PERSONS,
            refused: 0
        }
    );
    let again = send_many(&fed.pki, &gateway, PERSONS).await;
    assert_eq!(
        again, first,
        "a second run is answered by the stored messages"
    );

    for (n, office) in (1..=PERSONS).zip(offices.iter()) {
        let vn = Vn::from_serial(n).digits();
        let token = fed.token_of(&vn);
        let path = format!("/v1/persons/{vn}/messages");
        let list = json_of(read(&fed, &path, Some(&token)).await, 200).await;
        let messages = list["messages"].as_array().expect("messages");
        assert_eq!(
            messages.len(),
            1,
            "person {n}: one decision, not two: {list}"
        );
        assert_eq!(list["unread"], 1, "person {n}");
        assert_eq!(messages[0]["kind"], "decision", "{list}");
        assert_eq!(messages[0]["senderOffice"], office.as_str(), "{list}");
    }
    fed.shutdown().await;
}
