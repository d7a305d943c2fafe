"""The domain of convenant: definitions, dates, deadlines, decisions and the service that runs commands.

Nothing here imports SQL, HTTP or SMTP; storage and notifications plug in through `engine.ports`."""
