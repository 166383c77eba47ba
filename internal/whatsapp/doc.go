// Package whatsapp is a client of Meta's WhatsApp Business Cloud API: it sends message templates.
//
// A template message is a POST to https://graph.facebook.com/<version>/<phone-number-id>/messages
// with a bearer token and a JSON body of type "template", as Meta documents at
// https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates.
// The answer carries the message id (a "wamid"), which callers record.
//
// Errors are classified: [IsRetryable] is true for 429, 5xx and network errors, false for other
// 4xx answers (a bad number, an unknown template, a revoked token).
//
// Package whatsappsim is a clearly labelled simulator of the same endpoint for development and
// tests; it is used only when asked for (APPCITAS_WHATSAPP_SIMULATOR).
package whatsapp
