"""The alert a person reads: e-mail (plain text) and chat (AWS Chatbot / Amazon Q custom notification)."""
