//! Invoice and credit note PDFs over HTTP: content type, file name, the same bytes on
//! every download, drafts marked, both languages, and another organisation's key gets 404.

mod common;

use common::{s, sqlite};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_and_credit_note_pdfs() {
    let srv = sqlite().await;
    let a = srv.org("Seller AG").await;
    let b = srv.org("Other AG").await;
    a.post(
        "/v1/tax_rates",
        json!({"display_name": "USt", "percentage": 19, "country": "de"}),
    )
    .await
    .ok();
    let cus = a
        .post(
            "/v1/customers",
            json!({"name": "Ромашка ООО", "currency": "EUR", "locale": "ru",
                   "email": "buh@romashka.example",
                   "address": {"country": "DE", "city": "Berlin", "line1": "Unter den Linden 1"}}),
        )
        .await
        .ok();
    let inv = a
        .post(
            "/v1/invoices",
            json!({"customer": cus["id"], "memo": "Setup",
                   "lines": [{"description": "Установка", "amount": 5000}]}),
        )
        .await
        .ok();
    let inv_id = s(&inv["id"]);

    // A draft renders, marked, under a draft file name.
    let r = a.get(&format!("/v1/invoices/{inv_id}/pdf")).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/pdf");
    assert_eq!(
        r.headers["content-disposition"],
        format!("attachment; filename=\"draft-{inv_id}.pdf\"").as_str()
    );

    let fin = a
        .post(&format!("/v1/invoices/{inv_id}/finalize"), json!({}))
        .await
        .ok();
    let number = s(&fin["number"]);
    let get_pdf = |path: String| {
        let http = srv.http.clone();
        let url = format!("{}{path}", srv.base);
        let key = a.key.clone();
        async move {
            let r = http.get(url).bearer_auth(key).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let headers = r.headers().clone();
            (headers, r.bytes().await.unwrap().to_vec())
        }
    };
    let (headers, first) = get_pdf(format!("/v1/invoices/{inv_id}/pdf")).await;
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"{number}.pdf\"").as_str()
    );
    assert!(first.starts_with(b"%PDF-"));
    let (_, second) = get_pdf(format!("/v1/invoices/{inv_id}/pdf")).await;
    assert_eq!(
        first, second,
        "a finalized invoice renders to the same bytes"
    );

    let cn = a
        .post(
            "/v1/credit_notes",
            json!({"invoice": inv_id, "reason": "billing_error"}),
        )
        .await
        .ok();
    let cn_id = s(&cn["id"]);
    let (headers, cn_pdf) = get_pdf(format!("/v1/credit_notes/{cn_id}/pdf")).await;
    assert!(cn_pdf.starts_with(b"%PDF-"));
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"{}.pdf\"", s(&cn["number"])).as_str()
    );

    // Another organisation's key: not found, and nothing rendered.
    for path in [
        format!("/v1/invoices/{inv_id}/pdf"),
        format!("/v1/credit_notes/{cn_id}/pdf"),
    ] {
        b.get(&path).await.err(404, "resource_missing");
    }
    // A malformed id names the parameter.
    a.get("/v1/invoices/nope/pdf")
        .await
        .err_param(400, "parameter_invalid", "id");
}
