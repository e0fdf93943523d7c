import streamlit as st

st.title("supervision")
