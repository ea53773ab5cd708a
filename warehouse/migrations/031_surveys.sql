-- Developer-experience survey results (the `surveys` import entity): a team's mean score on a
-- question for a date or a period. Key: (team, question, period).
CREATE TABLE surveys (
    team VARCHAR NOT NULL,
    date DATE,
    period VARCHAR NOT NULL,
    question VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    respondents INTEGER,
    scale VARCHAR,
    source VARCHAR
);
