"""The Microsoft Teams front end (Bot Framework); every botbuilder import stays in this folder."""
